"""Acknowledged commands, recorded until answered (table `pending_commands`), so that none is
lost with the process that acknowledged it.

    entry = await journal.record("command", payload)   # before the acknowledgement is sent
    with running(entry):             # the command runs; the node client calls, in its slot,
        ...                          # `journal.before_change()` before a change leaves
    await journal.done(entry)        # answered: the record goes

`before_change` marks the record `sending`, or raises TakenOver when another process took the
command over: then nothing is sent and nothing said (that process answers).

A record carries its owner (`bot.coordination.presence`) and its state: `queued` (nothing sent
to the node yet) or `sending` (a change may have reached the node). `take_orphans` claims, with
`SELECT … FOR UPDATE SKIP LOCKED` so that two processes never claim the same one, the records
of owners that hold no presence lock any more (dead, or stopped: a process that stops leaves
what it could not finish, and wakes the others with NOTIFY, `announce_leaving`). The
claimer runs a `queued` one again (lookups are repeatable, nothing was sent) and answers a
`sending` one as of unknown outcome: a change is never sent twice. Ownership is checked when
marking `sending` (compare-and-set on owner and state), so a process presumed dead that comes
back cannot send what another has taken over.

`serve` records commands on PostgreSQL only (`bot.app`): with SQLite there is one `serve`, and
the writes would cost it half its acknowledgements per second. The class itself works on any
database: on SQLite the only other owners would be earlier runs of the process.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Text,
    column,
    delete,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.coordination.loop_batch import LoopBatch
from bot.coordination.presence import CHANNEL, Presence
from bot.coordination.sessions import Namespace, PgSession, Sessions, process_name
from bot.store.database import TableStore, UTCDateTime
from bot.store.group_commit import GroupCommit
from bot.store.once import CLAIM_SQL, Claim

log = logging.getLogger(__name__)

QUEUED = "queued"
SENDING = "sending"


class JournalError(Exception):
    """The pending-commands table could not be used; the message hides any password."""


class TakenOver(Exception):
    """Another process took this command over (it presumed this one dead): send nothing, say
    nothing; it answers."""


class _Base(DeclarativeBase):
    pass


class PendingCommand(_Base):
    __tablename__ = "pending_commands"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    owner: Mapped[int] = mapped_column(BigInteger, index=True)
    state: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass
class Entry:
    """One recorded command, as its runner knows it."""

    id: int
    kind: str
    payload: dict[str, Any]
    state: str = QUEUED
    finished: bool = False
    """Answered and its record gone: a follow-up that outlives it (a dialled call watched)
    sends nothing under its name."""


@dataclass
class _Record:
    kind: str
    payload: str
    owner: int
    id: int = 0
    claim: Claim | None = None
    """The request's replay claim, written with the record (which goes in only if it wins)."""


_current: contextvars.ContextVar[Entry | None] = contextvars.ContextVar(
    "pexbot_journal_entry", default=None
)


@contextmanager
def running(entry: Entry | None) -> Iterator[None]:
    """Within this block, changes sent to the node are marked against `entry` (the client's
    `before_change` hook reads it)."""
    token = _current.set(entry)
    try:
        yield
    finally:
        _current.reset(token)


_ALIVE = (
    text(
        "SELECT objid::bigint AS owner FROM pg_locks WHERE locktype = 'advisory'"
        " AND classid::bigint = :ns AND objsubid = 2 AND granted"
    )
    .bindparams(ns=Namespace.PROCESS)
    .columns(column("owner", BigInteger))
)


class Journal(TableStore):
    """The `pending_commands` table (see the module docstring)."""

    error = JournalError
    what = "the pending-commands record"

    def __init__(self, database_url_text: str, presence: Presence) -> None:
        super().__init__(database_url_text, _Base.metadata, PendingCommand.__tablename__)
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _brisk_sqlite)
        self.presence = presence
        self._records: GroupCommit[_Record] = GroupCommit(self._insert, name="journal")
        self._finished: GroupCommit[int] = GroupCommit(self._delete, name="journal-done")
        self._on_loop: _OnLoop | None = None
        if self._engine.dialect.name == "postgresql":
            self._on_loop = _OnLoop(self, database_url_text)

    async def record(
        self, kind: str, payload: dict[str, Any], claim: Claim | None = None
    ) -> Entry | None:
        """Record a command as acknowledged; None (logged) if the database failed: the
        command still runs, it is only not protected against this process dying.

        `claim`, the request's replay claim still open (PostgreSQL), is written in the same
        statement, one round trip for both: if it loses (a replay), nothing is recorded and
        None is returned (the caller asks `claim.won()`, answered without another write)."""
        if claim is not None and not claim.open and not await claim.won():
            return None  # a replay: nothing to record
        row = _Record(kind, json.dumps(payload, separators=(",", ":")), self.presence.owner)
        if claim is not None and claim.open and self._on_loop is not None:
            row.claim = claim
        try:
            if self._on_loop is None:
                await self._records.submit(row)
            else:
                if not self._schema_ready:
                    await asyncio.to_thread(self.prepare)
                await self._on_loop.records.submit(row)
        except JournalError as exc:
            log.error("a command was acknowledged but not recorded: %s", exc)
            return None
        if row.id == 0:  # its claim lost: a replay
            return None
        return Entry(row.id, kind, payload)

    async def before_change(self) -> None:
        """The client's hook before a change leaves for the node: mark the running command
        `sending`, or raise TakenOver. Outside a recorded command it does nothing."""
        entry = _current.get()
        if entry is None or entry.state == SENDING or entry.finished:
            return
        if self._on_loop is None:
            marked = await asyncio.to_thread(self._run, "written", self._mark_sending, entry.id)
        else:
            mark = _Mark(entry.id)
            await self._on_loop.marks.submit(mark)
            marked = mark.marked
        if not marked:
            raise TakenOver(f"command {entry.id} was taken over by another process")
        entry.state = SENDING

    async def done(self, entry: Entry | None) -> None:
        """The command was answered: its record goes (a failure is logged)."""
        if entry is None:
            return
        entry.finished = True
        try:
            if self._on_loop is None:
                await self._finished.submit(entry.id)
            else:
                await self._on_loop.finished.submit(entry.id)
        except JournalError as exc:
            log.error("an answered command's record stays (it may be answered twice): %s", exc)

    async def take_orphans(self, limit: int = 50) -> list[Entry]:
        """Claim records whose owner is gone (or handed them back): they are this process's
        now, each in the state it was left in."""
        return await asyncio.to_thread(self._run, "read", self._claim_orphans, limit)

    async def announce_leaving(self) -> None:
        """After this process's presence is gone: wake the others (NOTIFY), so that what it
        leaves is taken over now rather than at their next look."""
        if self.presence.shared:
            await asyncio.to_thread(self._run, "written", self._notify)

    def _notify(self) -> None:
        with self._engine.begin() as connection:
            connection.execute(text(f"NOTIFY {CHANNEL}"))

    async def open_sessions(self) -> None:
        """Before serving (PostgreSQL): a session of the event loop's opened now, so that no
        acknowledgement of a new process's first burst waits for a new connection (a server
        process forked, authentication: several ms, on the acknowledgement's path). Raises
        psycopg.OperationalError if the database cannot be reached (they are then opened
        when first needed)."""
        if self._on_loop is not None:
            await self._on_loop.open()

    async def close_sessions(self) -> None:
        """The event loop's own sessions (PostgreSQL), before `close`."""
        if self._on_loop is not None:
            await self._on_loop.close()

    def close(self) -> None:
        self._records.close()
        self._finished.close()
        self.dispose()

    # --- in worker threads -----------------------------------------------------------------

    def _insert(self, rows: list[_Record]) -> None:
        self._run("written", self._insert_rows, rows)

    def _insert_rows(self, rows: list[_Record]) -> None:
        """One statement for the whole batch (RETURNING the ids in the rows' order)."""
        now = datetime.now(UTC)
        values = [
            {
                "owner": row.owner,
                "state": QUEUED,
                "kind": row.kind,
                "payload": row.payload,
                "recorded_at": now,
            }
            for row in rows
        ]
        statement = insert(PendingCommand).returning(
            PendingCommand.id, sort_by_parameter_order=True
        )
        with self._engine.begin() as connection:
            ids = connection.execute(statement, values).scalars().all()
        for row, new_id in zip(rows, ids, strict=True):
            row.id = int(new_id)

    def _delete(self, ids: list[int]) -> None:
        self._run("written", self._delete_rows, ids)

    def _delete_rows(self, ids: list[int]) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                delete(PendingCommand).where(
                    PendingCommand.id.in_(ids), PendingCommand.owner == self.presence.owner
                )
            )

    def _mark_sending(self, entry_id: int) -> bool:
        with self._engine.begin() as connection:
            result = connection.execute(
                update(PendingCommand)
                .where(
                    PendingCommand.id == entry_id,
                    PendingCommand.owner == self.presence.owner,
                    PendingCommand.state == QUEUED,
                )
                .values(state=SENDING)
            )
            return bool(result.rowcount)

    def _claim_orphans(self, limit: int) -> list[Entry]:
        with self._engine.begin() as connection:
            rows = connection.execute(self._orphans(connection, limit)).all()
            if rows:
                connection.execute(
                    update(PendingCommand)
                    .where(PendingCommand.id.in_([row.id for row in rows]))
                    .values(owner=self.presence.owner)
                )
        return [Entry(row.id, row.kind, json.loads(row.payload), row.state) for row in rows]

    def _orphans(self, connection: Connection, limit: int) -> Any:
        query = select(
            PendingCommand.id, PendingCommand.kind, PendingCommand.payload, PendingCommand.state
        ).where(PendingCommand.owner != self.presence.owner)
        if self.presence.shared:
            query = query.where(PendingCommand.owner.not_in(_ALIVE))
        return query.order_by(PendingCommand.id).limit(limit).with_for_update(skip_locked=True)


@dataclass
class _Mark:
    id: int
    marked: bool = False


class _OnLoop:
    """PostgreSQL: the journal's writes on the event loop (`LoopBatch`), each batch one
    statement in autocommit, one round trip. In the writer threads each took a BEGIN, the
    statement and a COMMIT, and two thread hand-overs: 2-5 ms on an acknowledgement's path
    (`record`) and in the node's slot (`before_change`) with four processes on two cores
    (bench/README.md, `several`). The three kinds of write share at most three sessions."""

    SESSIONS = 3

    def __init__(self, journal: Journal, database_url_text: str) -> None:
        self._journal = journal
        self._sessions = Sessions(database_url_text, self.SESSIONS, process_name("journal"))
        self.records: LoopBatch[_Record] = LoopBatch(self._sessions, self._insert, self._error)
        self.marks: LoopBatch[_Mark] = LoopBatch(self._sessions, self._mark, self._error)
        self.finished: LoopBatch[int] = LoopBatch(self._sessions, self._delete, self._error)

    async def open(self) -> None:
        """One session: a burst's records take one at a time (the others are opened if
        writes of different kinds ever overlap; in the `several` bench they never did)."""
        await self._sessions.open(1)

    async def close(self) -> None:
        for batch in (self.records, self.marks, self.finished):
            await batch.finish()
        await self._sessions.close()

    async def _insert(self, session: PgSession, rows: list[_Record]) -> None:
        """The rows go in in order (ORDER BY the ordinal), so their ids, from one sequence,
        ascend in the rows' order. Rows carrying a replay claim: the claims are inserted by
        the same statement (`seen_once`, as `bot.store.once` does), and such a row only if
        its claim won. A claim is decided here only once the statement succeeded: a batch
        that fails is written again one row at a time."""
        claims = [row.claim for row in rows if row.claim is not None]
        now = datetime.now(UTC)
        values = (
            [row.owner for row in rows],
            [row.kind for row in rows],
            [row.payload for row in rows],
        )
        if not claims:
            found = await self._fetch(session, _INSERT_IN_ORDER, (QUEUED, now, *values))
            for row, new_id in zip(rows, sorted(int(one[0]) for one in found), strict=True):
                row.id = new_id
            return
        keys = [claim.key for claim in claims]
        params = (
            keys,
            [claim.expires_at for claim in claims],
            now,
            QUEUED,
            now,
            *values,
            [None if row.claim is None else row.claim.key for row in rows],
        )
        found = await self._fetch(session, _CLAIM_AND_INSERT, params)
        won = {str(key) for key, new_id in found if key is not None}
        kept = [row for row in rows if row.claim is None or row.claim.key in won]
        ids = sorted(int(new_id) for key, new_id in found if new_id is not None)
        for row, new_id in zip(kept, ids, strict=True):
            row.id = new_id
        for claim in claims:
            claim.decided(claim.key in won)

    async def _mark(self, session: PgSession, marks: list[_Mark]) -> None:
        """Compare-and-set on owner and state. A record this process already marked counts
        as marked: only its owner marks it, so after a failed batch is tried again one by
        one, what the first attempt may have done is not mistaken for a take-over."""
        ids = [mark.id for mark in marks]
        found = await self._fetch(session, _MARK_SENDING, (ids, self._journal.presence.owner))
        marked = {int(one[0]) for one in found}
        for mark in marks:
            mark.marked = mark.id in marked

    async def _delete(self, session: PgSession, ids: list[int]) -> None:
        await self._fetch(session, _DELETE_DONE, (ids, self._journal.presence.owner))

    async def _fetch(self, session: PgSession, sql: str, params: tuple[Any, ...]) -> list[Any]:
        cursor = await session.execute(sql, params)
        return await cursor.fetchall() if cursor.description else []

    def _error(self, exc: psycopg.Error) -> JournalError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"{self._journal.what} at {self._journal.url}"
        return JournalError(f"{where} could not be written: {reason}")


_TABLE = PendingCommand.__tablename__
_MARK_SENDING = (
    f"UPDATE {_TABLE} SET state = '{SENDING}' WHERE id = ANY(%s::bigint[]) AND owner = %s"
    f" AND state IN ('{QUEUED}', '{SENDING}') RETURNING id"
)
_DELETE_DONE = f"DELETE FROM {_TABLE} WHERE id = ANY(%s::bigint[]) AND owner = %s"
_INSERT_IN_ORDER = (
    f"INSERT INTO {PendingCommand.__tablename__} (owner, state, kind, payload, recorded_at)"
    " SELECT r.owner, %s::text, r.kind, r.payload, %s::timestamptz"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[])"
    " WITH ORDINALITY AS r(owner, kind, payload, n) ORDER BY r.n RETURNING id"
)

# The replay claims (`bot.store.once.CLAIM_SQL`: a new key, or an expired one renewed) and the
# records in one statement, atomic: a record goes in only if its claim won. Rows: (claimed key,
# NULL) per claim that won, (NULL, id) per record.
_CLAIM_AND_INSERT = (
    f"WITH won AS ({CLAIM_SQL}),"
    " recorded AS ("
    f" INSERT INTO {_TABLE} (owner, state, kind, payload, recorded_at)"
    " SELECT r.owner, %s::text, r.kind, r.payload, %s::timestamptz"
    " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::varchar[])"
    " WITH ORDINALITY AS r(owner, kind, payload, claim, n)"
    " WHERE r.claim IS NULL OR r.claim IN (SELECT key FROM won) ORDER BY r.n RETURNING id)"
    " SELECT key, NULL::bigint FROM won UNION ALL SELECT NULL, id FROM recorded"
)


def _brisk_sqlite(connection: Any, _: Any) -> None:
    """SQLite: write-ahead logging without a sync per commit, so that recording a command on
    the acknowledgement's path waits for no fsync; a record survives the process dying (the
    case it is for), not a power cut."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
