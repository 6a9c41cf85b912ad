"""The management node's concurrency cap (PEXIP_MAX_CONCURRENCY): per process, or across every
process sharing a PostgreSQL `DATABASE_URL`.

    slots = node_slots(settings.database_url, cap)
    async with slots.hold():       # at most `cap` of these at once, across processes
        ...one request to the node...

`LocalSlots` is a semaphore: the cap of one process (SQLite, or no database at all).

`SharedSlots` makes slot i the session advisory lock (NODE_SLOT, i), i < cap. A holder takes
a free one, or waits in PostgreSQL's own lock queue (first come, first served across processes,
and woken the moment a slot is released: no polling). Each slot held by this process sits on a
session of its own, so releasing one never touches another, and a process that dies releases
its slots with its sessions. Within the process a semaphore first keeps the holders to `cap`,
so no process ever opens more than `cap` sessions for this.

With cap 1 a waiter queues for the one lock. With a larger cap it tries every slot, and if none
is free queues for one at random for up to `REQUEUE_AFTER` seconds before trying them all again:
never above the cap, and a slot freed elsewhere is picked up within that time.

If the database cannot be reached, requests go on under this process's own cap (logged as an
error) rather than moderation stopping with the database: the cap is then per process until it
is back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import psycopg
from psycopg import errors as pg_errors

from bot.coordination.sessions import Namespace, PgSession, Sessions, is_postgres, process_name

log = logging.getLogger(__name__)

REQUEUE_AFTER = 0.2
"""Seconds a waiter queues on one slot (cap > 1) before trying every slot again."""
UNSHARED_LOG_EVERY = 60.0
"""While the database cannot be reached, how often that is logged again."""

_TRY = "SELECT pg_try_advisory_lock(%s::int4, %s::int4)"
_WAIT = "SELECT pg_advisory_lock(%s::int4, %s::int4)"
_RELEASE = "SELECT pg_advisory_unlock(%s::int4, %s::int4)"


class NodeSlots(Protocol):
    cap: int

    def hold(self) -> AbstractAsyncContextManager[None]:
        """One request's slot, held for the duration of the block."""
        ...

    async def open(self) -> None:
        """Before serving: what the first holders would otherwise wait for."""
        ...

    async def close(self) -> None: ...


class LocalSlots:
    """The cap within this process only."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._slots = asyncio.Semaphore(cap)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._slots:
            yield

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None


class SharedSlots:
    """The cap across every process on one PostgreSQL database (see the module docstring)."""

    def __init__(self, database_url_text: str, cap: int, *, name: str | None = None) -> None:
        self.cap = cap
        self._local = asyncio.Semaphore(cap)
        self._sessions = Sessions(database_url_text, cap, name or process_name("node-slots"))
        self._unshared_since: float | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._local:
            held = await self._acquire()
            try:
                yield
            finally:
                if held is not None:
                    await self._release(*held)

    async def open(self) -> None:
        """Open the `cap` sessions now, before serving; if the database cannot be reached,
        they are opened when first needed (and the failure handled there)."""
        try:
            await self._sessions.open(self.cap)
        except psycopg.OperationalError as exc:
            self._unshared(exc)

    async def _acquire(self) -> tuple[PgSession, int] | None:
        """A shared slot on a session of its own; None when the database cannot be reached:
        moderation goes on with this process's own cap (logged), rather than stopping."""
        try:
            session = await self._sessions.take()
        except psycopg.OperationalError as exc:
            self._unshared(exc)
            return None
        try:
            slot = await self._take(session)
        except psycopg.OperationalError as exc:
            await self._sessions.discard(session)
            self._unshared(exc)
            return None
        except BaseException:  # cancelled while queued: the session goes, and any lock with it
            await self._sessions.discard(session)
            raise
        if self._unshared_since is not None:
            log.warning("the database is back: the node's cap is shared across processes again")
            self._unshared_since = None
        return session, slot

    def _unshared(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._unshared_since is None or now - self._unshared_since > UNSHARED_LOG_EVERY:
            log.error(
                "the database cannot be reached (%s): until it can, this process caps the node "
                "on its own (PEXIP_MAX_CONCURRENCY per process)",
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            self._unshared_since = now

    async def _take(self, session: PgSession) -> int:
        if self.cap == 1:
            await session.execute(_WAIT, (Namespace.NODE_SLOT, 0))
            return 0
        while True:
            first = random.randrange(self.cap)
            for slot in [(first + step) % self.cap for step in range(self.cap)]:
                if await _scalar(session, _TRY, slot):
                    return slot
            queued = random.randrange(self.cap)
            if await self._queue_on(session, queued):
                return queued

    async def _queue_on(self, session: PgSession, slot: int) -> bool:
        """Wait for `slot` for up to REQUEUE_AFTER; False when it stayed taken."""
        try:
            async with session.transaction():
                await session.execute(f"SET LOCAL lock_timeout = {int(REQUEUE_AFTER * 1000)}")
                await session.execute(_WAIT, (Namespace.NODE_SLOT, slot))
        except pg_errors.LockNotAvailable:
            return False
        return True

    async def _release(self, session: PgSession, slot: int) -> None:
        """The request is over whatever happens here: a failure is logged, never raised, and
        a session that failed is closed (which releases the lock if the server still had it)."""
        try:
            released = await _scalar(session, _RELEASE, slot)
        except psycopg.Error as exc:
            log.warning("node slot %d: releasing it failed (%s); closing its session", slot, exc)
            await self._sessions.discard(session)
            return
        self._sessions.give_back(session)
        if not released:
            log.warning(
                "node slot %d was no longer held when released: the database session was lost, "
                "so another process may have used it meanwhile",
                slot,
            )

    async def close(self) -> None:
        await self._sessions.close()


async def _scalar(session: PgSession, sql: str, slot: int) -> bool:
    cursor = await session.execute(sql, (Namespace.NODE_SLOT, slot))
    row = await cursor.fetchone()
    return bool(row and row[0])


def node_slots(database_url_text: str | None, cap: int) -> NodeSlots:
    """Shared slots on PostgreSQL, this process's own otherwise."""
    if database_url_text and is_postgres(database_url_text):
        return SharedSlots(database_url_text, cap)
    return LocalSlots(cap)
