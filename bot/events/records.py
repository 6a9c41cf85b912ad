"""Live-meeting bookkeeping in `DATABASE_URL` (INTERFACE §8, §10): which Slack message belongs
to which conference and participant, and the state the events have built, so that a restarted
process edits its existing messages instead of posting new ones.

One small key-value table: `p:<uuid>` a participant, `c:<name>` a conference, `m:<...>` a
message (its channel, what it shows and `v`, its version), `t:<message key>` where that message
was posted (its ts), `i:<uuid>` who last asked the node to admit or disconnect that participant
(`bot.events.intents`). Each row holds a JSON object. A process reads every row once at start;
changes are made in memory at once and written behind, in order, by one writer thread that
commits whatever has queued up together (`bot.store.group_commit`): a burst of events costs a
few commits, not one each, and the event consumer never waits for the disk.

Several processes on one PostgreSQL database (INTERFACE §10) change the records in `turn()`s,
one at a time across all of them (the session advisory lock (LIVE, 0)): a turn first reads what
the others changed since this process last looked, and has written its own changes before it
lets go, so each process builds on what the others did, whichever received the event before.
What a turn writes is stamped (`updated`: the later of the time and just above every stamp seen,
so stamps only grow), and a turn reads only the rows stamped above what it has seen; a row a turn
removes is left as a stamped tombstone for the others to see, deleted an hour later. A process
that has not looked for half an hour reads everything again. Rows written outside a turn (where
a message was posted, who asked to admit whom) are unstamped and read with `fresh()`.

The records of finished messages and meetings are deleted after their retention
(`bot.events.retention`, swept by `handlers.live` in a turn now and then).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Float, Index, String, Text, delete, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.coordination.sessions import Namespace, Sessions, is_postgres, process_name
from bot.store.database import TableStore
from bot.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

Record = dict[str, Any]
Change = tuple[str, str | None, float]  # (key, JSON text or None: delete, stamp)

TOMBSTONE = "null"
"""The value of a row a turn removed (PostgreSQL), until `PURGE_AFTER`."""
PURGE_AFTER = 3600.0
PURGE_EVERY = 600.0
LATEST_TURN = "g:turn"
READ_ALL_AFTER = 1800.0
"""A process that has not looked for this long reads every row (tombstones may be gone)."""


class LiveError(Exception):
    """The live-meeting records could not be read or written; no password in the message."""


class _Base(DeclarativeBase):
    pass


class LiveRow(_Base):
    __tablename__ = "live_record"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated: Mapped[float] = mapped_column(Float, default=0.0)


STAMPS = Index("ix_live_record_updated", LiveRow.updated)


class LiveRecords(TableStore):
    """The `live_record` table, mirrored in memory (`get` never waits for the database)."""

    error = LiveError
    what = "the live-meeting records"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, LiveRow.__tablename__)
        self._rows: dict[str, Record] | None = None
        self._writer: GroupCommit[Change] = GroupCommit(self._write, name="live-records")
        self._writes: set[asyncio.Task[None]] = set()
        self.database_url = database_url_text
        self.shared = is_postgres(database_url_text)
        """Other processes may change the records (PostgreSQL): change them in `turn()`s."""
        self._sessions = (
            Sessions(database_url_text, 1, process_name("live")) if self.shared else None
        )
        self._turns = asyncio.Lock()
        self._seen = 0.0  # the highest stamp read (PostgreSQL)
        self._looked = 0.0  # when (time.monotonic()) this process last read the changes
        self._stamp = 0.0  # what the turn under way stamps its writes with; 0: unstamped
        self._purged = 0.0

    async def load(self) -> None:
        if self._rows is None:
            await self._read_all()
            # read outside a turn, perhaps half of one another process was writing: the first
            # turn reads everything again
            self._looked = -READ_ALL_AFTER

    async def _read_all(self) -> None:
        rows, self._seen = await asyncio.to_thread(self._run, "read", self._select)
        self._rows, self._looked = rows, time.monotonic()

    async def _read_changes(self) -> None:
        """What other processes changed since this one last looked (all of it, after long)."""
        if time.monotonic() - self._looked > READ_ALL_AFTER:
            await self._read_all()
            return
        changed = await asyncio.to_thread(self._run, "read", self._select_since, self._seen)
        assert self._rows is not None
        for key, text, stamp in changed:
            if text == TOMBSTONE:
                self._rows.pop(key, None)
            else:
                self._rows[key] = json.loads(text)
            self._seen = max(self._seen, stamp)
        self._looked = time.monotonic()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Change the records as the only one: one turn at a time in this process and, on
        PostgreSQL, across every process, with the rows read afresh first and the changes
        written before the next turn begins (anywhere)."""
        async with self._turns:
            await self.load()
            if self._sessions is None:
                yield
                return
            async with self._sessions.session() as session:
                await session.execute(_LOCK, (Namespace.LIVE,))
                try:
                    await self._read_changes()
                    self._stamp = max(time.time(), self._seen + 0.001)
                    await self.put(LATEST_TURN, {})  # the highest stamp stays readable
                    yield
                finally:
                    self._stamp, self._seen = 0.0, max(self._seen, self._stamp)
                    await self.written()
                    await self._purge()
                    await session.execute(_UNLOCK, (Namespace.LIVE,))

    async def _purge(self) -> None:
        """Now and then, in a turn: delete the tombstones older than PURGE_AFTER."""
        if time.monotonic() - self._purged < PURGE_EVERY:
            return
        self._purged = time.monotonic()
        try:
            await asyncio.to_thread(self._run, "written", self._delete_tombstones)
        except LiveError as exc:
            log.warning("%s", exc)

    def get(self, key: str) -> Record | None:
        assert self._rows is not None, "load() first"
        found = self._rows.get(key)
        return None if found is None else dict(found)

    def keys(self, prefix: str) -> list[str]:
        assert self._rows is not None, "load() first"
        return [key for key in self._rows if key.startswith(prefix)]

    async def put(self, key: str, value: Record) -> None:
        assert self._rows is not None, "load() first"
        self._rows[key] = dict(value)
        self._behind((key, _text(value), self._stamp))

    async def put_now(self, key: str, value: Record) -> None:
        """`put`, returning once it is written (what another process must find at once: where a
        message was posted, who asked to admit whom)."""
        assert self._rows is not None, "load() first"
        self._rows[key] = dict(value)
        await self._writer.submit((key, _text(value), self._stamp))

    async def fresh(self, key: str) -> Record | None:
        """The row as the database holds it now (PostgreSQL), or as this process holds it."""
        if not self.shared:
            return self.get(key)
        return await asyncio.to_thread(self._run, "read", self._select_one, key)

    async def drop(self, *keys: str) -> None:
        assert self._rows is not None, "load() first"
        for key in keys:
            self._rows.pop(key, None)
            self._behind((key, None, self._stamp))

    async def written(self) -> None:
        """Until every change so far is in the database (tests, shutdown)."""
        while self._writes:
            await asyncio.wait(set(self._writes))

    async def close(self) -> None:
        if self._sessions is not None:
            await self._sessions.close()
        self._writer.close()
        self.dispose()

    def _behind(self, change: Change) -> None:
        task = asyncio.create_task(self._submit(change))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _submit(self, change: Change) -> None:
        try:
            await self._writer.submit(change)
        except LiveError as exc:
            log.error("%s", exc)

    def _write(self, changes: list[Change]) -> None:
        self._run("written", self._apply, changes)

    def _migrate(self) -> None:
        """A table made before the stamps were read has no index on them yet."""
        try:
            STAMPS.create(self._engine, checkfirst=True)
        except SQLAlchemyError:  # another process made it at the same moment
            made = inspect(self._engine).get_indexes(LiveRow.__tablename__)
            if STAMPS.name not in {index["name"] for index in made}:
                raise

    def _select(self) -> tuple[dict[str, Record], float]:
        """Every row, and the highest stamp."""
        with self._engine.connect() as connection:
            rows = connection.execute(select(LiveRow.key, LiveRow.value, LiveRow.updated)).all()
        found = {key: json.loads(value) for key, value, _ in rows if value != TOMBSTONE}
        return found, max((stamp or 0.0 for _, _, stamp in rows), default=0.0)

    def _select_since(self, seen: float) -> list[tuple[str, str, float]]:
        query = select(LiveRow.key, LiveRow.value, LiveRow.updated).where(LiveRow.updated > seen)
        with self._engine.connect() as connection:
            return [(key, text, stamp) for key, text, stamp in connection.execute(query)]

    def _delete_tombstones(self) -> None:
        older = time.time() - PURGE_AFTER
        with self._engine.begin() as connection:
            connection.execute(
                delete(LiveRow).where(LiveRow.value == TOMBSTONE, LiveRow.updated < older)
            )

    def _select_one(self, key: str) -> Record | None:
        with self._engine.connect() as connection:
            text = connection.scalar(select(LiveRow.value).where(LiveRow.key == key))
        return None if text is None or text == TOMBSTONE else dict(json.loads(text))

    def _apply(self, changes: list[Change]) -> None:
        """One transaction for the batch: the last change of each key, in order. A removal
        stamped by a turn leaves a tombstone, for the other processes to see."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        latest = {key: (text, stamp) for key, text, stamp in changes}
        with self._engine.begin() as connection:
            for key, (text, stamp) in latest.items():
                if text is None and not (stamp and self.shared):
                    connection.execute(delete(LiveRow).where(LiveRow.key == key))
                    continue
                value = TOMBSTONE if text is None else text
                statement = dialect.insert(LiveRow).values(key=key, value=value, updated=stamp)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[LiveRow.key], set_={"value": value, "updated": stamp}
                    )
                )


_LOCK = "SELECT pg_advisory_lock(%s::int4, 0)"
_UNLOCK = "SELECT pg_advisory_unlock(%s::int4, 0)"


def _text(value: Record) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
