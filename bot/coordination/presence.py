"""This process, as other processes see it: a number (`owner`) that its records carry, alive as
long as it holds the session advisory lock (PROCESS, owner). A process that dies loses the
lock with its session, and the records it owns become another's to finish
(`bot.coordination.journal`). The same session listens for `CHANNEL`, on which a process that
hands work back (a graceful stop) wakes the others.

With SQLite there is one `serve`: `LocalPresence` has a number of its own and no peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Protocol

import psycopg

from bot.coordination.sessions import Namespace, PgSession, connect, is_postgres, process_name

log = logging.getLogger(__name__)

CHANNEL = "pexbot_commands"
RECONNECT_AFTER = 2.0


def new_owner() -> int:
    return random.randrange(1, 2**31)


class Presence(Protocol):
    owner: int
    shared: bool

    async def start(self) -> None: ...

    async def news(self, seconds: float) -> None:
        """Returns when work was handed back (NOTIFY), or after `seconds`."""
        ...

    async def close(self) -> None: ...


class LocalPresence:
    shared = False

    def __init__(self) -> None:
        self.owner = new_owner()

    async def start(self) -> None:
        return None

    async def news(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        return None


class SharedPresence:
    shared = True

    def __init__(self, database_url_text: str, role: str = "serve") -> None:
        self._url = database_url_text
        self._name = process_name(role)
        self.owner = new_owner()
        self._session: PgSession | None = None

    async def start(self) -> None:
        """Hold this process's lock (a number no live process holds) and listen."""
        session = await connect(self._url, self._name)
        while not await _try_lock(session, self.owner):
            self.owner = new_owner()
        await session.execute(f"LISTEN {CHANNEL}")
        self._session = session

    async def news(self, seconds: float) -> None:
        session = self._session
        if session is None or session.closed or session.broken:
            await self._reconnect()
            await asyncio.sleep(seconds)
            return
        try:
            async for _ in session.notifies(timeout=seconds, stop_after=1):
                break
        except psycopg.Error as exc:
            log.warning("the session that marks this process alive failed: %s", exc)
            await asyncio.sleep(min(seconds, RECONNECT_AFTER))

    async def _reconnect(self) -> None:
        """Take our own number again, so records not yet taken over stay ours."""
        await self.close()
        try:
            session = await connect(self._url, self._name)
            if not await _try_lock(session, self.owner):
                log.warning("this process's number was taken meanwhile; taking a new one")
                self.owner = new_owner()
                while not await _try_lock(session, self.owner):
                    self.owner = new_owner()
            await session.execute(f"LISTEN {CHANNEL}")
            self._session = session
        except psycopg.Error as exc:
            log.warning("cannot reach the database to mark this process alive: %s", exc)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()


async def _try_lock(session: PgSession, owner: int) -> bool:
    cursor = await session.execute(
        "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (Namespace.PROCESS, owner)
    )
    row = await cursor.fetchone()
    return bool(row and row[0])


def presence(database_url_text: str, role: str = "serve") -> Presence:
    if is_postgres(database_url_text):
        return SharedPresence(database_url_text, role)
    return LocalPresence()
