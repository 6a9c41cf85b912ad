"""The edits of one Slack message, one at a time across processes, and never an older state
after a newer one (lobby cards, live rosters, approvals, dial progress).

    edits = MessageEdits(settings.database_url)     # one per process (`Services.edits`)
    sent = await edits.edit("roster:C123:1712.5", version, lambda: slack.chat_update(...))

`version` is the caller's measure of how new the state is (an event's sequence, a counter kept
with the state): an edit whose version is not above the last one sent for that message is
skipped (False), so a late or duplicated render cannot overwrite a newer one. The last version
sent per message lives in `message_versions` in `DATABASE_URL` (a restart keeps it).

Versions are kept while their message may still be edited: live messages forget theirs with
their records (`bot.events.retention`); the others (approvals, dial progress) are deleted once
untouched for `KEEP`, by whichever process edits next (at most once per `PRUNE_EVERY` each).

`last_sent(key)` says which version was last sent and when, by any process: the live messages
use it to keep to one edit a second per message across the deployment (`handlers.live`).

One at a time: within a process a lock per message; across processes (PostgreSQL) the session
advisory lock (MESSAGE, hashtext(key)), held while the edit is sent, so two processes never
interleave a check and a send. A process that dies mid-edit releases it with its session.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from time import monotonic

from sqlalchemy import BigInteger, String, delete, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.coordination.sessions import Namespace, Sessions, is_postgres, process_name
from bot.store.database import TableStore, UTCDateTime

log = logging.getLogger(__name__)

SESSIONS = 4
"""Messages this process edits at the same moment on PostgreSQL (one session each)."""

KEEP = timedelta(days=30)
"""A message version untouched this long is deleted: no approval, dial or meeting message is
edited again after a month (an approval expires within a day, a dial's message settles in
minutes)."""
PRUNE_EVERY = 3600.0


class MessageEditError(Exception):
    """The message versions could not be read or written; the message hides any password."""


class _Base(DeclarativeBase):
    pass


class MessageVersion(_Base):
    __tablename__ = "message_versions"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageEdits(TableStore):
    error = MessageEditError
    what = "the message versions"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, MessageVersion.__tablename__)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._pruned_at: float | None = None
        self._sessions = (
            Sessions(database_url_text, SESSIONS, process_name("message-edits"))
            if is_postgres(database_url_text)
            else None
        )

    async def edit(self, key: str, version: int, send: Callable[[], Awaitable[object]]) -> bool:
        """Send the edit of message `key` at `version` unless one as new was sent; True if
        sent. An exception from `send` propagates and records nothing."""
        key = key[:255]
        async with self._turn(key):
            last = await asyncio.to_thread(self._run, "read", self._last, key)
            if last is not None and last >= version:
                return False
            await send()
            await asyncio.to_thread(self._run, "written", self._store, key, version)
        await self._prune_now_and_then()
        return True

    async def _prune_now_and_then(self) -> None:
        if self._pruned_at is not None and monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = monotonic()
        try:
            gone = await asyncio.to_thread(
                self._run, "written", self._prune, datetime.now(UTC) - KEEP
            )
        except MessageEditError as exc:  # the edit itself was sent and recorded: only logged
            log.warning("old message versions not deleted (tried again in an hour): %s", exc)
            return
        if gone:
            log.info("deleted %d message version(s) untouched for %d days", gone, KEEP.days)

    async def last_version(self, key: str) -> int | None:
        return await asyncio.to_thread(self._run, "read", self._last, key[:255])

    async def last_sent(self, key: str) -> tuple[int, datetime] | None:
        """The version last sent of message `key`, and when (by any process)."""
        return await asyncio.to_thread(self._run, "read", self._last_sent, key[:255])

    async def forget(self, keys: list[str]) -> None:
        """The versions of messages nobody edits any more (their records were deleted)."""
        if keys:
            await asyncio.to_thread(self._run, "written", self._delete, [k[:255] for k in keys])

    @asynccontextmanager
    async def _turn(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            if self._sessions is None:
                yield
                return
            async with self._sessions.session() as session:
                await session.execute(
                    "SELECT pg_advisory_lock(%s::int4, hashtext(%s))", (Namespace.MESSAGE, key)
                )
                try:
                    yield
                finally:
                    await session.execute(
                        "SELECT pg_advisory_unlock(%s::int4, hashtext(%s))",
                        (Namespace.MESSAGE, key),
                    )

    async def close(self) -> None:
        if self._sessions is not None:
            await self._sessions.close()
        self.dispose()

    # --- in worker threads -----------------------------------------------------------------

    def _last(self, key: str) -> int | None:
        with Session(self._engine) as session:
            found = session.scalar(select(MessageVersion.version).where(MessageVersion.key == key))
            return None if found is None else int(found)

    def _last_sent(self, key: str) -> tuple[int, datetime] | None:
        query = select(MessageVersion.version, MessageVersion.updated_at).where(
            MessageVersion.key == key
        )
        with Session(self._engine) as session:
            found = session.execute(query).first()
            return None if found is None else (int(found[0]), found[1])

    def _delete(self, keys: list[str]) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(MessageVersion).where(MessageVersion.key.in_(keys)))

    def _prune(self, before: datetime) -> int:
        with self._engine.begin() as connection:
            done = connection.execute(
                delete(MessageVersion).where(MessageVersion.updated_at < before)
            )
            return int(done.rowcount or 0)

    def _store(self, key: str, version: int) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(MessageVersion)
                .where(MessageVersion.key == key)
                .values(version=version, updated_at=now)
            )
            if changed.rowcount:
                return
            connection.execute(
                insert(MessageVersion).values(key=key, version=version, updated_at=now)
            )
