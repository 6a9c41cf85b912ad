"""`backup now` from Slack: one at a time, and BACKUP_NOW_COOLDOWN between them (INTERFACE §2).

Each backup costs the node disk space and work, so anyone holding `backup` must not be able to
start them back to back. Within this process an asyncio lock gives one at a time (checked and
taken without yielding, so two clicks cannot both pass); the run history in `DATABASE_URL`
says what other processes (the clock, another `serve`) are running and when the last backup
from Slack started (one the node refused at once does not count: a Retry need not wait). A
history that cannot be read refuses (fail closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from bot.backup.history import BackupHistory, BackupRun, HistoryError

Clock = Callable[[], datetime]
STALE_AFTER = timedelta(hours=1)
"""A run recorded as running this long past BACKUP_WAIT_SECONDS is taken as a crashed process."""


class NotNow(Exception):
    """A `backup now` that must wait; the message says why and when it is allowed again."""


class ManualBackups:
    def __init__(self, history: BackupHistory, cooldown: timedelta, wait_seconds: float) -> None:
        self._history = history
        self._cooldown = cooldown
        self._running_for_at_most = timedelta(seconds=wait_seconds) + STALE_AFTER
        self._lock: asyncio.Lock | None = None

    @asynccontextmanager
    async def turn(self, now: Clock) -> AsyncIterator[None]:
        """Hold this for the whole run; raises `NotNow` when a backup may not start now."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        if self._lock.locked():
            raise NotNow("A backup started from Slack is running now; wait for its report.")
        async with self._lock:
            await self._check(now())
            yield

    async def _check(self, now: datetime) -> None:
        try:
            runs = await self._history.recent(50)
        except HistoryError as exc:
            raise NotNow(
                f"The backup run history could not be read ({exc}), so no backup was started; "
                "try again later."
            ) from None
        for run in runs:
            if run.outcome == "running" and now - run.started_at < self._running_for_at_most:
                raise NotNow(
                    f"A backup ({run.trigger}) has been running since "
                    f"{_at(run.started_at)}; wait for its report."
                )
        if not self._cooldown:
            return
        manual = [run for run in runs if run.trigger == "manual" and not _refused_at_create(run)]
        if manual and now < manual[0].started_at + self._cooldown:
            allowed = manual[0].started_at + self._cooldown
            raise NotNow(
                f"The last backup from Slack started at {_at(manual[0].started_at)}; another is "
                f"allowed from {_at(allowed)} (BACKUP_NOW_COOLDOWN)."
            )


def _refused_at_create(run: BackupRun) -> bool:
    """The node refused to make it: no file came of it, so a Retry need not wait."""
    return run.outcome == "failure" and run.failed_step == "create"


def _at(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S UTC")
