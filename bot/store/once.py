"""Seen once: the first sighting of a key wins, whichever process sees it (INTERFACE §10).

`await once.first("envelope:abc", lifetime=3600)` is True for exactly one caller among every
process sharing `DATABASE_URL` until the record expires, and False for the others: a Slack
signature accepted once (a replay is refused), a Socket Mode envelope acted on once (a
redelivery is only acknowledged). Each key is a row of the small `seen_once` table whose primary
key is the key itself: the insert that creates it is the claim, and an insert that finds it
already there (insert-or-ignore) is a repeat. Expired rows are deleted as they are met, and all
of them once a minute.

Claims made while a write is under way are committed together (`bot.store.group_commit`): one commit
per batch keeps a burst of requests from queueing behind one fsync each. On PostgreSQL the batches
are written on the event loop (`bot.coordination.loop_batch`), one statement each. On an SQLite file
a claim is first tried at once, on the caller's thread (`_claimed_here`); when another writer holds
the file at that moment (the audit log's), this process's own memory decides and the row is written
once the writer lets go (`_record_later`): one `serve` owns an SQLite file (INTERFACE §10), and an
acknowledgement must not wait for the audit log. Each process also remembers what it has claimed
itself, so that a repeat reaching the same process is caught without the database, and still caught
when the database cannot be reached (then logged, and only other processes' claims go unseen).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import String, bindparam, delete, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.coordination.loop_batch import LoopBatch
from bot.coordination.sessions import PgSession, Sessions, process_name
from bot.store.database import TableStore, UTCDateTime
from bot.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

CLEANUP_SECONDS = 60.0
"""How often, at most, every expired row is deleted."""


class OnceError(Exception):
    """The seen-once table could not be written; the message hides any password."""


class _Base(DeclarativeBase):
    pass


class SeenOnce(_Base):
    __tablename__ = "seen_once"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


@dataclass
class _Claim:
    key: str
    expires_at: datetime
    first: bool = False


class Once(TableStore):
    """The `seen_once` table in `database_url`; see the module docstring."""

    error = OnceError
    what = "the seen-once record"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, SeenOnce.__tablename__)
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _brisk_sqlite)
            event.listen(self._engine, "begin", _begin_immediate)
        self._writer: GroupCommit[_Claim] = GroupCommit(self._write, name="seen-once")
        # PostgreSQL: claimed on the event loop (`_claim_on_loop`), not in the writer thread
        self._loop_claims: LoopBatch[_Claim] | None = None
        if self._engine.dialect.name == "postgresql":
            self._sessions = Sessions(database_url_text, 1, process_name("seen-once"))
            self._loop_claims = LoopBatch(self._sessions, self._claim_on_loop, self._error)
        self._mine: dict[str, float] = {}  # key -> when it expires (time.monotonic())
        self._mine_lock = threading.Lock()
        self._last_cleanup = 0.0
        local = self._engine.dialect.name == "sqlite" and self._serial is None
        self._here: Connection | None = None
        self._here_usable = local
        self._later: set[asyncio.Future[None]] = set()

    async def first(self, key: str, lifetime: float) -> bool:
        """Record `key` for `lifetime` seconds: True if nobody had recorded it (unexpired)."""
        if not self._remember(key, lifetime):
            return False
        claim = _Claim(key[:255], datetime.now(UTC) + timedelta(seconds=lifetime))
        if self._here_usable and not self._cleanup_due():
            if self._claimed_here(claim):
                return claim.first
            self._record_later(claim)
            return True
        try:
            if self._loop_claims is None:
                await self._writer.submit(claim)
            else:
                if not self._schema_ready:
                    await asyncio.to_thread(self.prepare)
                await self._loop_claims.submit(claim)
        except OnceError as exc:
            log.error("%s; %s judged on this process's own memory only", exc, _kind(key))
            return True
        return claim.first

    async def _claim_on_loop(self, session: PgSession, claims: list[_Claim]) -> None:
        """PostgreSQL: the batch's claims in one statement (atomic), in autocommit: one round
        trip on the event loop, where a claim each between BEGIN and COMMIT in the writer
        thread took three and two thread hand-overs (bench/README.md, `several`). A key twice
        in one batch: its first claim wins."""
        now = datetime.now(UTC)
        first_of: dict[str, _Claim] = {}
        for claim in claims:
            first_of.setdefault(claim.key, claim)
        if self._cleanup_due():
            await session.execute(_CLEANUP_SQL, (now,))
            self._last_cleanup = time.monotonic()
        unique = list(first_of.values())
        cursor = await session.execute(
            _CLAIM_SQL, ([c.key for c in unique], [c.expires_at for c in unique], now)
        )
        won = {str(row[0]) for row in await cursor.fetchall()}
        for claim in claims:
            claim.first = first_of[claim.key] is claim and claim.key in won

    def _error(self, exc: psycopg.Error) -> OnceError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return OnceError(f"{self.what} at {self.url} could not be written: {reason}")

    async def close_sessions(self) -> None:
        """The event loop's own session (PostgreSQL), before `close`."""
        if self._loop_claims is not None:
            await self._loop_claims.finish()
            await self._sessions.close()

    async def settled(self) -> None:
        """Wait until the claims recorded later (`_record_later`) are written."""
        while self._later:
            await asyncio.gather(*self._later, return_exceptions=True)

    def close(self) -> None:
        self._writer.close()
        if self._here is not None:
            self._here.close()
        self.dispose()

    def _claimed_here(self, claim: _Claim) -> bool:
        """SQLite file: claim on the calling thread (one event loop's), without awaiting. A
        write-ahead-log insert that syncs nothing takes tens of microseconds, less than handing
        it to a thread and waiting for the event loop to come back to this request (measured in
        bench/: the ack case). False when the file is locked at this moment (the audit log's
        writer) or the claim failed: `_record_later` then writes it."""
        try:
            if self._here is None:
                self._ensure_schema()
                here = self._engine.connect()
                raw = here.connection.driver_connection
                assert raw is not None
                raw.execute("PRAGMA busy_timeout=0")
                raw.execute("PRAGMA wal_autocheckpoint=0")  # the writer thread checkpoints
                self._here = here
            with self._here.begin():
                claim.first = self._claim(self._here, claim, datetime.now(UTC))
        except SQLAlchemyError:  # busy, or broken: the writer thread decides, and reports
            return False
        return True

    def _cleanup_due(self) -> bool:
        """Every expired row is deleted by the writer thread, which waits as long as it must."""
        return time.monotonic() - self._last_cleanup > CLEANUP_SECONDS

    def _record_later(self, claim: _Claim) -> None:
        """SQLite file, held by another writer right now (the audit log's, most often): this
        process's own memory has decided, so the acknowledgement does not wait for the lock;
        the record is written once the writer lets go, for the next start of this process.
        With SQLite one `serve` owns the file (INTERFACE §10); across processes sharing a
        PostgreSQL database every claim is decided by the database (`first`)."""
        task = asyncio.ensure_future(self._record(claim))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _record(self, claim: _Claim) -> None:
        try:
            await self._writer.submit(claim)
        except OnceError as exc:
            log.error("%s; %s judged on this process's own memory only", exc, _kind(claim.key))
            return
        if not claim.first:
            log.warning("%s was already recorded by another process", _kind(claim.key))

    def _remember(self, key: str, lifetime: float) -> bool:
        """This process's own record: False if it already holds `key`, unexpired."""
        now = time.monotonic()
        with self._mine_lock:
            if self._mine.get(key, 0.0) > now:
                return False
            if len(self._mine) > 10_000:
                self._mine = {k: until for k, until in self._mine.items() if until > now}
            self._mine[key] = now + lifetime
            return True

    def _write(self, claims: list[_Claim]) -> None:
        self._run("written", self._insert, claims)

    def _insert(self, claims: list[_Claim]) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            if self._cleanup_due():
                connection.execute(_CLEANUP, {"now": now})
                self._last_cleanup = time.monotonic()
            taken: set[str] = set()
            for claim in claims:
                claim.first = claim.key not in taken and self._claim(connection, claim, now)
                taken.add(claim.key)

    def _claim(self, connection: Connection, claim: _Claim, now: datetime) -> bool:
        """Insert the key, or take over its expired row; True if either happened."""
        values = {"key": claim.key, "expires_at": claim.expires_at, "now": now}
        upsert = _UPSERT.get(connection.dialect.name)
        if upsert is not None:
            return connection.execute(upsert, values).first() is not None
        # any other database: the unique key still decides, through a savepoint
        connection.execute(_EXPIRED_KEY, values)
        try:
            with connection.begin_nested():
                connection.execute(insert(SeenOnce), values)
        except IntegrityError:
            return False
        return True


def _kind(key: str) -> str:
    """What a key records (`signature`, `envelope`), without the key itself."""
    return key.split(":", 1)[0]


def _upsert(dialect: Any) -> Any:
    """INSERT ... ON CONFLICT: a new row, or an expired one renewed; RETURNING says which won.
    Built once (SQLAlchemy then compiles it once), as each claim is on an acknowledgement's path."""
    statement = dialect.insert(SeenOnce).values(
        key=bindparam("key"), expires_at=bindparam("expires_at")
    )
    return statement.on_conflict_do_update(
        index_elements=[SeenOnce.key],
        set_={"expires_at": statement.excluded.expires_at},
        where=SeenOnce.expires_at <= bindparam("now"),
    ).returning(SeenOnce.key)


_UPSERT = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}
_CLEANUP = delete(SeenOnce).where(SeenOnce.expires_at <= bindparam("now"))
_EXPIRED_KEY = delete(SeenOnce).where(
    (SeenOnce.key == bindparam("key")) & (SeenOnce.expires_at <= bindparam("now"))
)


_CLAIM_SQL = (
    f"INSERT INTO {SeenOnce.__tablename__} (key, expires_at)"
    " SELECT * FROM unnest(%s::varchar[], %s::timestamptz[])"
    " ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at"
    f" WHERE {SeenOnce.__tablename__}.expires_at <= %s RETURNING key"
)
_CLEANUP_SQL = f"DELETE FROM {SeenOnce.__tablename__} WHERE expires_at <= %s"


def _brisk_sqlite(connection: Any, _: Any) -> None:
    """SQLite: write-ahead logging, so that a claim waits for no reader and no fsync of the
    audit log's writer (a claim lost to a power cut only lets one replay through); and
    transactions begun by SQLAlchemy (`_begin_immediate`), not by the driver."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when the claim begins, waiting for it if need be. Begun the
    default way, the insert would read first and then find the file changed by another
    process's claim: "database is locked" at once, no waiting, and the claim undecided."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")
