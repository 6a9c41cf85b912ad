"""Finishing what dead processes acknowledged: every `serve` claims, now and then and whenever
another process hands work back (NOTIFY), the recorded commands no live process owns
(`Journal.take_orphans`), and gives each to `rerun` (nothing had reached the node: run it
again) or `unknown` (a change may have reached the node: say so, never send it again).

    recovery = Recovery(journal, rerun=..., unknown=...)
    await recovery.start()          # at start-up, once serving
    ...
    await recovery.stop_watching()  # on shutdown, before the command queue is drained
    await recovery.close()          # after it
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.coordination.journal import QUEUED, Entry, Journal, JournalError

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
"""How often a process looks for commands of processes that died (no NOTIFY comes from a
killed process); a graceful stop wakes the others at once."""

Handler = Callable[[Entry], Awaitable[None]]


class Recovery:
    def __init__(
        self, journal: Journal, *, rerun: Handler, unknown: Handler, poll: float = POLL_SECONDS
    ) -> None:
        self.journal = journal
        self._rerun = rerun
        self._unknown = unknown
        self._poll = poll
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Mark this process alive, take over what earlier processes left, keep watching
        (on PostgreSQL; with SQLite, the one `serve` takes over its earlier runs only)."""
        await self.journal.presence.start()
        await self.take_over()
        if self.journal.presence.shared:
            self._task = asyncio.create_task(self._watch(), name="pexbot-recovery")

    async def take_over(self) -> int:
        """Claim and hand on every orphaned command now; how many."""
        taken = 0
        while True:
            try:
                entries = await self.journal.take_orphans()
            except JournalError as exc:
                log.error("looking for commands left by stopped processes failed: %s", exc)
                return taken
            if not entries:
                return taken
            taken += len(entries)
            for entry in entries:
                await self._hand_on(entry)

    async def _hand_on(self, entry: Entry) -> None:
        queued = entry.state == QUEUED
        log.warning(
            "took over command %d from a process that stopped: %s",
            entry.id,
            "running it" if queued else "its outcome is unknown (it may have reached the node)",
        )
        try:
            await (self._rerun if queued else self._unknown)(entry)
        except Exception:  # one bad record must not stop the others
            log.exception("handling command %d taken over from a stopped process", entry.id)

    async def _watch(self) -> None:
        while True:
            await self.journal.presence.news(self._poll)
            await self.take_over()

    async def stop_watching(self) -> None:
        """Take over nothing more (a stopping process drains its own queue first)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        """Leave: this process's records become the others' to finish, and they are woken."""
        await self.stop_watching()
        await self.journal.presence.close()
        try:
            await self.journal.announce_leaving()
        except JournalError as exc:
            log.warning("could not wake the other processes on leaving: %s", exc)
        await self.journal.close_sessions()
        self.journal.close()
