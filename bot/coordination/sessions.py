"""Dedicated PostgreSQL sessions for session-level advisory locks and LISTEN.

A session advisory lock belongs to one connection and is released when that connection ends,
however the process ends (SIGKILL included): nothing is left to clean up. So these connections
are not SQLAlchemy's pooled ones (a pool would hand the connection, and the lock, to someone
else); they are psycopg async connections held for as long as what they guard.

The server learns that a client vanished (its host rebooted, a network cut) through TCP
keepalives, set here per session, so a dead process's locks are released within about 20 s
rather than the kernel's default of two hours. Every session carries an `application_name`
naming the process, which `pexbot check` shows for the clock that leads.

Lock keys are two 32-bit integers: a namespace per purpose (`Namespace`) and a number within it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from bot.store.database import database_url

log = logging.getLogger(__name__)

PgSession = psycopg.AsyncConnection[tuple[Any, ...]]

KEEPALIVE = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
"""Server side: a client that stops answering is dropped (its locks released) after ~20 s."""

CONNECT_TIMEOUT = 10


class Namespace:
    """The first key of every advisory lock pexbot takes ("px" and a purpose); plain ints, as
    psycopg would send an enum by its name."""

    NODE_SLOT = 0x7078_0001
    CLOCK_LEADER = 0x7078_0002
    PROCESS = 0x7078_0003
    MESSAGE = 0x7078_0004
    LIVE = 0x7078_0005


def is_postgres(database_url_text: str) -> bool:
    return database_url(database_url_text).get_backend_name() == "postgresql"


def conninfo(database_url_text: str) -> str:
    """The libpq URI of a SQLAlchemy `DATABASE_URL` (psycopg takes it as it is)."""
    url: URL = database_url(database_url_text).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def process_name(role: str) -> str:
    """What other processes (and `pexbot check`) see of this one: role, host and pid."""
    return f"pexbot {role} {socket.gethostname()} pid {os.getpid()}"[:63]


async def connect(database_url_text: str, name: str) -> PgSession:
    """A new autocommit session, with keepalives both ways and `name` as application_name."""
    return await psycopg.AsyncConnection.connect(
        conninfo(database_url_text),
        autocommit=True,
        application_name=name,
        options=KEEPALIVE,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=5,
        keepalives_count=3,
        connect_timeout=CONNECT_TIMEOUT,
    )


class Sessions:
    """Dedicated sessions, opened when first needed and kept while healthy.

    `async with sessions.session() as conn` lends one (at most `size` at once); when the work
    inside fails or is cancelled, the session is closed rather than lent again, which also
    drops any lock it held. `take` / `give_back` / `discard` do the same by hand.
    """

    def __init__(self, database_url_text: str, size: int, name: str) -> None:
        self._url = database_url_text
        self._name = name
        self._free = asyncio.Semaphore(size)
        self._idle: list[PgSession] = []
        self._lent: set[PgSession] = set()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[PgSession]:
        async with self._free:
            conn = await self.take()
            try:
                yield conn
            except BaseException:
                await self.discard(conn)
                raise
            self.give_back(conn)

    async def open(self, count: int) -> None:
        """Open `count` idle sessions now (before serving), so that the first holders do not
        wait for a new connection each (a server process forked, authentication: several
        ms). Raises psycopg.OperationalError if the database cannot be reached."""
        opened = await asyncio.gather(
            *(connect(self._url, self._name) for _ in range(count - len(self._idle))),
            return_exceptions=True,
        )
        self._idle.extend(conn for conn in opened if not isinstance(conn, BaseException))
        for failed in opened:
            if isinstance(failed, BaseException):
                raise failed

    async def take(self) -> PgSession:
        """An idle healthy session, or a new one (psycopg.OperationalError if none can be had)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and not conn.broken:
                self._lent.add(conn)
                return conn
        conn = await connect(self._url, self._name)
        self._lent.add(conn)
        return conn

    def give_back(self, conn: PgSession) -> None:
        self._lent.discard(conn)
        self._idle.append(conn)

    async def discard(self, conn: PgSession) -> None:
        """Close it: whatever it held goes with it."""
        self._lent.discard(conn)
        await _close(conn)

    async def close(self) -> None:
        """Close every session (those lent included: their locks go with them)."""
        for conn in [*self._idle, *self._lent]:
            await _close(conn)
        self._idle.clear()
        self._lent.clear()


async def _close(conn: PgSession) -> None:
    try:
        await conn.close()
    except Exception as exc:  # closing a broken connection: nothing more to do
        log.debug("closing a coordination session: %s", exc)
