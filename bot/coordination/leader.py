"""One acting clock: the process holding the session advisory lock (CLOCK_LEADER, 0) leads.

    leader = clock_leader(settings.database_url)
    await leader.lead()        # returns once this process leads (others wait here, and say so)
    await leader.lost()        # returns if the lead is lost (the database session failed)

Followers wait for the lock in PostgreSQL's queue, so one takes over the moment the leader's
session ends: at once when its process dies, within ~20 s when its host vanishes (the server's
TCP keepalives, `bot.coordination.sessions`). The leader checks its session every
`CHECK_EVERY` seconds and steps down when the check fails or hangs, before the server would give
the lock to another (at most CHECK_EVERY + CHECK_TIMEOUT seconds, against the ~20 s above).

With SQLite there is one clock: `LocalLeader` leads at once and never loses the lead.
`describe_leader` tells `pexbot check` which process leads and how many wait.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import psycopg

from bot.coordination.sessions import Namespace, PgSession, connect, is_postgres, process_name

log = logging.getLogger(__name__)

CHECK_EVERY = 5.0
CHECK_TIMEOUT = 4.0
RECONNECT_AFTER = 5.0

_TRY_LEAD = "SELECT pg_try_advisory_lock(%s::int4, 0)"
_LEAD = "SELECT pg_advisory_lock(%s::int4, 0)"
_WHO = """
SELECT a.application_name, a.backend_start,
       (SELECT count(*) FROM pg_locks w
         WHERE w.locktype = 'advisory' AND w.classid::bigint = %(ns)s AND w.objid = 0
           AND w.objsubid = 2 AND NOT w.granted)
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.classid::bigint = %(ns)s AND l.objid = 0
   AND l.objsubid = 2 AND l.granted
"""


class Leader(Protocol):
    name: str

    async def lead(self) -> None: ...

    async def lost(self) -> None: ...

    async def close(self) -> None: ...


class LocalLeader:
    """SQLite: one clock, which leads."""

    name = process_name("clock")

    async def lead(self) -> None:
        return None

    async def lost(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        return None


class SharedLeader:
    """PostgreSQL: the holder of the leader lock leads (see the module docstring)."""

    def __init__(self, database_url_text: str, *, name: str | None = None) -> None:
        self._url = database_url_text
        self.name = name or process_name("clock")
        self._session: PgSession | None = None

    async def lead(self) -> None:
        while True:
            try:
                self._session = await connect(self._url, self.name)
                if await self._take():
                    return
                await self._say_who_leads()
                await self._session.execute(_LEAD, (Namespace.CLOCK_LEADER,))
                return
            except psycopg.Error as exc:
                log.warning(
                    "clock: cannot wait for the lead (%s); trying again in %.0f s",
                    _first_line(exc),
                    RECONNECT_AFTER,
                )
                await self._drop()
                await asyncio.sleep(RECONNECT_AFTER)

    async def _take(self) -> bool:
        """The lead at once if nobody holds it."""
        assert self._session is not None
        cursor = await self._session.execute(_TRY_LEAD, (Namespace.CLOCK_LEADER,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _say_who_leads(self) -> None:
        """This clock is about to wait: the log says so, whatever the timing (INTERFACE 10)."""
        assert self._session is not None
        try:
            cursor = await self._session.execute(_WHO, {"ns": Namespace.CLOCK_LEADER})
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            log.debug("could not read which clock leads: %s", exc)
            row = None
        holder = str(row[0] or "an unnamed session") if row else "another clock"
        log.info("another clock leads (%s): this one waits to take over", holder)

    async def lost(self) -> None:
        session = self._session
        if session is None:
            return
        while True:
            await asyncio.sleep(CHECK_EVERY)
            try:
                await asyncio.wait_for(session.execute("SELECT 1"), CHECK_TIMEOUT)
            except (psycopg.Error, TimeoutError) as exc:
                log.error("clock: lost the database session that holds the lead (%s)", exc)
                await self._drop()
                return

    async def close(self) -> None:
        """Give the lead up (another clock takes it at once)."""
        await self._drop()

    async def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.close()
            except Exception as exc:
                log.debug("closing the leader session: %s", exc)


def clock_leader(database_url_text: str) -> Leader:
    if is_postgres(database_url_text):
        return SharedLeader(database_url_text)
    return LocalLeader()


@dataclass(frozen=True)
class LeaderInfo:
    name: str | None
    since: datetime | None
    waiting: int


async def describe_leader(database_url_text: str) -> LeaderInfo:
    """Which process leads (its application_name), since when, and how many clocks wait."""
    async with await connect(database_url_text, process_name("check")) as session:
        cursor = await session.execute(_WHO, {"ns": Namespace.CLOCK_LEADER})
        row = await cursor.fetchone()
        if row is None:
            waiting = await session.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid::bigint = %s AND objid = 0 AND objsubid = 2 AND NOT granted",
                (Namespace.CLOCK_LEADER,),
            )
            count = await waiting.fetchone()
            return LeaderInfo(None, None, int(count[0]) if count else 0)
        name, since, waiting_count = row
        return LeaderInfo(str(name or "an unnamed session"), since, int(waiting_count))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
