"""A backup download gives way to moderation: between pieces it waits while a moderator's work is
under way, so on a machine short of CPU the moderator is served first.

"Under way" is the whole of a command, not only its request at the node: the command queue of
`pexbot serve` (`bot.command_queue.CommandQueue`) counts a command from the moment it is queued
until it is answered, audited and posted. Giving way only while a node request was in flight left
the moderation overhead p50 at 1.5-1.9x idle while a 1 GiB backup downloaded (bench/README.md:
busy case). The wait is bounded (`GiveWay`), so the download always progresses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol


class Work(Protocol):
    """Something a download gives way to while it is `working`."""

    @property
    def working(self) -> bool: ...

    async def wait_until_quiet(self) -> None: ...


class Moderation(Work, Protocol):
    """Moderation work of the process besides the client's own requests: the command queue."""

    def set_aside(self) -> AbstractContextManager[None]:
        """The work the caller is part of (the command that downloads) stops counting."""
        ...


@dataclass(frozen=True)
class GiveWay:
    """A download waits `at_most` seconds at a time, then reads on for `read_on` seconds
    whatever is under way: under unending moderation it still gets a sixth of the time."""

    at_most: float = 0.25
    read_on: float = 0.05


class Requests:
    """The client's lookups and commands in flight, or waiting for a slot."""

    def __init__(self) -> None:
        self._count = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextmanager
    def counted(self) -> Iterator[None]:
        self._count += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._count -= 1
            if not self._count:
                self._quiet.set()

    @property
    def working(self) -> bool:
        return bool(self._count)

    async def wait_until_quiet(self) -> None:
        await self._quiet.wait()


class ModerationFirst:
    """What a download awaits between pieces (one download at a time per client).

    The download receives in a thread of its own (`bot.pexip.download`): it asks `due()` for
    each piece, which only reads counters and the clock (cheap, and safe from that thread), and
    only when it is due awaits this on the event loop."""

    def __init__(self, work: Sequence[Work], give_way: GiveWay) -> None:
        self._work = work
        self._give_way = give_way
        self._reading_on_until = 0.0

    def due(self) -> bool:
        """Moderation is under way and the download is not reading on: await this now."""
        return self._busy() is not None and time.monotonic() >= self._reading_on_until

    async def __call__(self) -> None:
        busy = self._busy()
        if busy is None:  # the common case, once per piece: kept cheap
            return
        if time.monotonic() < self._reading_on_until:
            return
        deadline = time.monotonic() + self._give_way.at_most
        while busy is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                self._reading_on_until = time.monotonic() + self._give_way.read_on
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(busy.wait_until_quiet(), left)
            busy = self._busy()

    def _busy(self) -> Work | None:
        for work in self._work:
            if work.working:
                return work
        return None
