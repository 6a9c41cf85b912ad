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
its slots with its sessions. Within the process at most `cap` hold or seek a slot at once (the
others queue here, in order), so no process ever opens more than `cap` sessions for this.

When a holder is done while another request of this process queues here, it hands its session
over: the next one releases the slot and queues for it again in ONE statement (`_REQUEUE`), not
two round trips (unlock, then lock). Releasing first keeps it fair: a process already queued
in PostgreSQL for that slot gets it, and this one queues behind it. In a burst that halved the
round trips for the cap (bench/README.md, `several`).

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
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

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
# Released, then taken again (or queued for): the subquery is evaluated first (OFFSET 0 keeps
# it from being folded into the outer query), so the lock is never held twice nor skipped.
_REQUEUE_WAIT = (
    "SELECT r.released, pg_advisory_lock(%s::int4, %s::int4) FROM"
    " (SELECT pg_advisory_unlock(%s::int4, %s::int4) AS released OFFSET 0) AS r"
)
_REQUEUE_TRY = (
    "SELECT r.released, pg_try_advisory_lock(%s::int4, %s::int4) FROM"
    " (SELECT pg_advisory_unlock(%s::int4, %s::int4) AS released OFFSET 0) AS r"
)


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


Held = tuple[PgSession, int]
"""A slot this process holds: the session holding its lock, and the slot's number."""


class SharedSlots:
    """The cap across every process on one PostgreSQL database (see the module docstring)."""

    def __init__(self, database_url_text: str, cap: int, *, name: str | None = None) -> None:
        self.cap = cap
        self._places = cap  # of this process's `cap`: not taken by a holder, nor handed on
        self._queue: deque[asyncio.Future[Held | None]] = deque()
        self._passing: set[asyncio.Task[None]] = set()
        self._sessions = Sessions(database_url_text, cap, name or process_name("node-slots"))
        self._unshared_since: float | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        held = await self._enter()
        try:
            yield
        finally:
            await self._leave(held)

    async def open(self) -> None:
        """Open the `cap` sessions now, before serving; if the database cannot be reached,
        they are opened when first needed (and the failure handled there)."""
        try:
            await self._sessions.open(self.cap)
        except psycopg.OperationalError as exc:
            self._unshared(exc)

    async def _enter(self) -> Held | None:
        """A place among this process's `cap` (at once, or in turn), then a slot."""
        if self._places > 0 and not self._queue:
            self._places -= 1
            handed = None
        else:
            handed = await self._wait_turn()
        try:
            return await (self._acquire() if handed is None else self._requeue(*handed))
        except BaseException:  # cancelled: the place goes to the next (its session is closed)
            self._give_place()
            raise

    async def _wait_turn(self) -> Held | None:
        """Queue for a place; what the last holder handed on with it (its session, still
        holding the slot), or None: seek a slot anew."""
        turn: asyncio.Future[Held | None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            return await turn
        except BaseException:
            if turn.done() and not turn.cancelled():  # handed a place as it was cancelled
                self._pass_on(turn.result())
            elif turn in self._queue:
                self._queue.remove(turn)
            raise

    async def _leave(self, held: Held | None) -> None:
        """To the next queued here with the session and its slot (no round trip now: it
        releases and queues again in one), else the slot released and the place freed."""
        if self._hand_over(held):
            return
        try:
            if held is not None:
                await self._release(*held)
        finally:
            self._give_place()

    def _hand_over(self, held: Held | None) -> bool:
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():  # not cancelled meanwhile
                turn.set_result(held)
                return True
        return False

    def _give_place(self) -> None:
        if not self._hand_over(None):
            self._places += 1

    def _pass_on(self, held: Held | None) -> None:
        """A place handed to a waiter that was cancelled: to the next, or given back."""
        if held is None:
            self._give_place()
        elif not self._hand_over(held):
            passing = asyncio.create_task(self._leave(held))
            self._passing.add(passing)
            passing.add_done_callback(self._passing.discard)

    async def _requeue(self, session: PgSession, slot: int) -> Held | None:
        """The slot handed on with `session`: released and queued for again in one round trip
        (fair: whoever PostgreSQL already queues for it comes first); with cap > 1, if that
        slot is taken meanwhile, any free one (`_take`). None: the database was lost."""
        try:
            if self.cap == 1:
                released, _ = await _row(session, _REQUEUE_WAIT, slot)
            else:
                released, again = await _row(session, _REQUEUE_TRY, slot)
                if not again:
                    slot = await self._take(session)
        except psycopg.OperationalError as exc:
            await self._sessions.discard(session)
            self._unshared(exc)
            return None
        except BaseException:  # cancelled while queued: the session goes, and any lock with it
            await self._sessions.discard(session)
            raise
        if not released:
            _lost(slot)
        return session, slot

    async def _acquire(self) -> Held | None:
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
        except BaseException:  # cancelled: closing the session releases the lock
            await self._sessions.discard(session)
            raise
        self._sessions.give_back(session)
        if not released:
            _lost(slot)

    async def close(self) -> None:
        await self._sessions.close()


def _lost(slot: int) -> None:
    log.warning(
        "node slot %d was no longer held when released: the database session was lost, "
        "so another process may have used it meanwhile",
        slot,
    )


async def _row(session: PgSession, sql: str, slot: int) -> tuple[Any, ...]:
    """`_REQUEUE_*` for `slot`: (released, taken again)."""
    cursor = await session.execute(sql, (Namespace.NODE_SLOT, slot, Namespace.NODE_SLOT, slot))
    row = await cursor.fetchone()
    assert row is not None
    return tuple(row)


async def _scalar(session: PgSession, sql: str, slot: int) -> bool:
    cursor = await session.execute(sql, (Namespace.NODE_SLOT, slot))
    row = await cursor.fetchone()
    return bool(row and row[0])


def node_slots(database_url_text: str | None, cap: int) -> NodeSlots:
    """Shared slots on PostgreSQL, this process's own otherwise."""
    if database_url_text and is_postgres(database_url_text):
        return SharedSlots(database_url_text, cap)
    return LocalSlots(cap)
