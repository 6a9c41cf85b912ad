"""Every configured conference's aliases, from one listing, kept for a short time.

A moderator whose scope is written as alias globs (`*@meet.example.com`) is checked against
each conference's aliases. Asking the node per conference and per command made a scoped user's
`conferences` cost one request per out-of-scope conference; instead one listing of the
configuration API (a page per 100 conferences) answers every conference for `ttl` seconds.
Concurrent callers share one listing in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping

from bot.pexip import configuration
from bot.pexip.client import PexipClient
from bot.pexip.models import ConfiguredConference

TTL_SECONDS = 30.0


class ConferenceAliases:
    def __init__(
        self,
        client: PexipClient,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._by_name: dict[str, tuple[str, ...]] = {}
        self._folded: dict[str, tuple[str, ...]] = {}
        self._loaded_at: float | None = None
        self._lock: asyncio.Lock | None = None

    async def snapshot(self) -> Mapping[str, tuple[str, ...]]:
        """Conference name → its aliases, at most `ttl` seconds old."""
        if not self._fresh():
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if not self._fresh():
                    await self._load()
        return self._by_name

    async def of(self, name: str) -> tuple[str, ...]:
        """The aliases of the conference called `name` (exact, else ignoring case)."""
        by_name = await self.snapshot()
        return by_name.get(name) or self._folded.get(name.casefold(), ())

    def replace(self, services: Iterable[ConfiguredConference]) -> None:
        """A whole listing someone just read anyway (e.g. for a form's picker)."""
        self._by_name = {service.name: service.alias_names for service in services}
        self._folded = {name.casefold(): aliases for name, aliases in self._by_name.items()}
        self._loaded_at = self._clock()

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._clock() - self._loaded_at < self._ttl

    async def _load(self) -> None:
        self.replace(await configuration.configured_conferences(self._client))
