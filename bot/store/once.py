"""Seen once: the first sighting of a key wins, whichever process sees it (INTERFACE §10).

`await once.first("envelope:abc", lifetime=3600)` is True for exactly one caller among every
process sharing `DATABASE_URL` until the record expires, and False for the others: a Slack
signature accepted once (a replay is refused), a Socket Mode envelope acted on once (a
redelivery is only acknowledged). Each key is a row of the small `seen_once` table whose primary
key is the key itself. Expired rows are deleted as they are met, and all of them once a minute.

Each process remembers what it has claimed itself, so a repeat reaching the same process is
caught without the database, and still caught when the database cannot be reached (then
logged, and only other processes' claims go unseen). Beyond that, it depends on the database:

- PostgreSQL (any number of `serve`): the database decides. The insert that creates the row is
  the claim, and an insert that finds it already there (insert-or-ignore) is a repeat. Claims
  made while a write is under way are written together, on the event loop, one statement a
  batch (`bot.coordination.loop_batch`). `claim` leaves the decision open, so that a write of
  the same moment carries it: a Slack command's replay claim goes in with the command's record
  (`bot.coordination.journal`), one round trip on the acknowledgement's path instead of two.
- SQLite (one `serve` owns the file, INTERFACE §10): this process's memory decides, loaded from
  the table when it first asks (so a restart still refuses what the last run accepted), and
  its claims are written to the table in batches, `WRITE_AFTER` seconds after the first of
  each, or, when requests keep arriving (a burst), once the door is quiet (`quiet`, the HTTP
  server's `bot.command_queue.Door`), `WRITE_WITHIN` seconds after the first at the latest.
  A claim written on the event loop before answering cost ~100-200 µs of every
  acknowledgement, as much as the rest of it; written every 50 ms in the writer thread during
  a burst, the writes still took the GIL from the event loop, ~50 µs of every
  acknowledgement and a fifth of the acknowledgements per second (bench/: the `baseline`
  case). A claim written later is lost only if the process dies before it is written (a
  replay of that one request after the restart would then go through).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import String, bindparam, delete, event, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.coordination.loop_batch import LoopBatch
from bot.coordination.sessions import PgSession, Sessions, process_name
from bot.store.database import TableStore, UTCDateTime
from bot.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

CLEANUP_SECONDS = 60.0
"""How often, at most, every expired row is deleted."""

WRITE_AFTER = 0.05
"""SQLite: seconds from a claim to the write that records it with those made meanwhile."""

WRITE_WITHIN = 1.0
"""SQLite: the latest a claim is written, in seconds, however busy the door is."""

REMEMBERED = 10_000
"""Keys remembered before the expired ones are first dropped (again whenever the count doubles)."""


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


class Claim:
    """A key claimed (`Once.claim`), decided once: by a write that carried it (`decided`), or
    written alone when `won` is first awaited."""

    def __init__(
        self, once: Once, key: str, expires_at: datetime, first: bool | None = None
    ) -> None:
        self.key = key
        self.expires_at = expires_at
        self._once = once
        self._first = first

    @property
    def open(self) -> bool:
        """Not decided yet: a write may carry it."""
        return self._first is None

    def decided(self, first: bool) -> None:
        """A write carried it: `first` says whether it won."""
        self._first = first

    async def won(self) -> bool:
        """True if nobody had claimed the key (unexpired) before."""
        if self._first is None:
            self._first = await self._once._decide(self)
        return self._first


DOOR_CLAIM: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "pexbot_door_claim", default=None
)
"""The replay claim of the Slack request being handled (`bot.slack.server`), while PostgreSQL
decides it: whatever the request makes happen waits for `won` (a replay does nothing), and a
command's record carries it (`Journal.record`), one round trip for both."""


class Once(TableStore):
    """The `seen_once` table in `database_url`; see the module docstring."""

    error = OnceError
    what = "the seen-once record"

    def __init__(
        self, database_url_text: str, quiet: Callable[[float], Awaitable[None]] | None = None
    ) -> None:
        """`quiet(until)`: returns once no request is being answered, or at `until`
        (time.monotonic()) at the latest; the SQLite writes wait for it (`WRITE_WITHIN`)."""
        super().__init__(database_url_text, _Base.metadata, SeenOnce.__tablename__)
        self._quiet = quiet
        self._decides_here = self._engine.dialect.name == "sqlite"
        if self._decides_here:
            event.listen(self._engine, "connect", _brisk_sqlite)
            event.listen(self._engine, "begin", _begin_immediate)
        self._writer: GroupCommit[list[_Claim]] = GroupCommit(self._write, name="seen-once")
        # PostgreSQL: claimed on the event loop (`_claim_on_loop`), not in the writer thread
        self._loop_claims: LoopBatch[_Claim] | None = None
        if self._engine.dialect.name == "postgresql":
            self._sessions = Sessions(database_url_text, 1, process_name("seen-once"))
            self._loop_claims = LoopBatch(self._sessions, self._claim_on_loop, self._error)
        self._mine: dict[str, float] = {}  # key -> when it expires (time.monotonic())
        self._mine_lock = threading.Lock()
        self._drop_expired_at = REMEMBERED
        self._last_cleanup = 0.0
        self._loaded = not self._decides_here
        self._loading: asyncio.Future[None] | None = None
        self._unwritten: dict[str, float] = {}  # SQLite: key -> when it expires (monotonic)
        self._later: set[asyncio.Future[None]] = set()

    async def first(self, key: str, lifetime: float) -> bool:
        """Record `key` for `lifetime` seconds: True if nobody had recorded it (unexpired)."""
        key = key[:255]
        if not self._loaded:
            await self._load_earlier_claims()
        if not self._remember(key, lifetime):
            return False
        if self._decides_here:
            self._write_later(key, time.monotonic() + lifetime)
            return True
        return await self._write_now(_Claim(key, datetime.now(UTC) + timedelta(seconds=lifetime)))

    async def claim(self, key: str, lifetime: float) -> Claim:
        """`first`, in two steps, for PostgreSQL (`carried`): the claim now, decided when `won`
        is awaited, or before by a write that carries it. A key this process holds is decided
        at once."""
        key = key[:255]
        if not self._loaded:
            await self._load_earlier_claims()
        expires_at = datetime.now(UTC) + timedelta(seconds=lifetime)
        if not self._remember(key, lifetime):
            return Claim(self, key, expires_at, first=False)
        if self._loop_claims is not None and self._cleanup_due():
            self._clean_up_soon()
        return Claim(self, key, expires_at)

    @property
    def carried(self) -> bool:
        """PostgreSQL: a claim may be written by another statement in the same database (the
        command's record, `bot.coordination.journal`), in one round trip with it."""
        return self._loop_claims is not None

    async def _decide(self, claim: Claim) -> bool:
        """A claim (`claim`) written alone."""
        if self._decides_here:
            remaining = (claim.expires_at - datetime.now(UTC)).total_seconds()
            self._write_later(claim.key, time.monotonic() + remaining)
            return True
        return await self._write_now(_Claim(claim.key, claim.expires_at))

    async def _write_now(self, claim: _Claim) -> bool:
        """The claim's row written now, where the database decides (PostgreSQL: in the event
        loop's batch); whether it was the first. When the table cannot be written, this
        process's memory alone decides."""
        try:
            if self._loop_claims is None:
                await self._writer.submit([claim])
            else:
                if not self._schema_ready:
                    await asyncio.to_thread(self.prepare)
                await self._loop_claims.submit(claim)
        except OnceError as exc:
            log.error("%s; %s judged on this process's own memory only", exc, _kind(claim.key))
            return True
        return claim.first

    def _clean_up_soon(self) -> None:
        """PostgreSQL: the expired rows deleted now, off the acknowledgement's path (claims
        carried by other writes do not pass `_claim_on_loop`, which also does it)."""
        self._last_cleanup = time.monotonic()
        task = asyncio.ensure_future(self._clean_up_on_loop())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _clean_up_on_loop(self) -> None:
        try:
            async with self._sessions.session() as session:
                await session.execute(_CLEANUP_SQL, (datetime.now(UTC),))
        except psycopg.Error as exc:
            log.warning("%s: expired rows not deleted: %s", self.what, self._error(exc))

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
            CLAIM_SQL, ([c.key for c in unique], [c.expires_at for c in unique], now)
        )
        won = {str(row[0]) for row in await cursor.fetchall()}
        for claim in claims:
            claim.first = first_of[claim.key] is claim and claim.key in won

    def _error(self, exc: psycopg.Error) -> OnceError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return OnceError(f"{self.what} at {self.url} could not be written: {reason}")

    async def open_sessions(self) -> None:
        """Before serving (PostgreSQL): the event loop's session opened now, so that the first
        claim of a new process waits for no new connection (several ms on the
        acknowledgement's path). Raises psycopg.OperationalError if the database cannot be
        reached (it is then opened when first needed)."""
        if self._loop_claims is not None:
            await self._sessions.open(1)

    async def close_sessions(self) -> None:
        """The event loop's own session (PostgreSQL), before `close`."""
        if self._loop_claims is not None:
            await self._loop_claims.finish()
            await self._sessions.close()

    async def settled(self) -> None:
        """Wait until the claims to be written later (SQLite) are written."""
        while self._later:
            await asyncio.gather(*self._later, return_exceptions=True)

    def close(self) -> None:
        self._writer.close()
        self.dispose()

    def prepare(self) -> None:
        """Before serving (blocking): see `TableStore.prepare`; on SQLite also the claims of
        the last run, into memory."""
        super().prepare()
        if self._decides_here and not self._loaded:
            self._read_earlier()
            self._loaded = True

    async def _load_earlier_claims(self) -> None:
        """SQLite: what the table holds unexpired (an earlier run's claims), into memory; once,
        whoever asks first, the others waiting for it."""
        if self._loading is None:
            self._loading = asyncio.ensure_future(asyncio.to_thread(self._read_earlier))
        try:
            await asyncio.shield(self._loading)
        except OnceError as exc:
            log.error("%s; judged on this process's own memory only", exc)
        self._loaded = True

    def _read_earlier(self) -> None:
        now, here = datetime.now(UTC), time.monotonic()
        rows = self._run("read", self._unexpired, now)
        with self._mine_lock:
            for key, expires_at in rows:
                until = here + (expires_at - now).total_seconds()
                self._mine[key] = max(until, self._mine.get(key, 0.0))

    def _unexpired(self, now: datetime) -> list[tuple[str, datetime]]:
        with self._engine.connect() as connection:
            rows = connection.execute(_UNEXPIRED, {"now": now})
            return [(key, expires_at) for key, expires_at in rows]

    def _cleanup_due(self) -> bool:
        return time.monotonic() - self._last_cleanup > CLEANUP_SECONDS

    def _write_later(self, key: str, until: float) -> None:
        """SQLite: memory has decided; the row is written with the claims of the next
        `WRITE_AFTER` seconds (or of the burst), in one transaction of the writer thread. Kept
        till then as its key and deadline only: its date is worked out when written, not on the
        acknowledgement's path, and a burst's claims leave no object each for the garbage
        collector."""
        self._unwritten[key] = until
        if len(self._unwritten) == 1:
            task = asyncio.ensure_future(self._write_soon())
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    async def _write_soon(self) -> None:
        deadline = time.monotonic() + WRITE_WITHIN
        await asyncio.sleep(WRITE_AFTER)
        if self._quiet is not None:
            await self._quiet(deadline)
        waiting, self._unwritten = self._unwritten, {}
        now, here = datetime.now(UTC), time.monotonic()
        claims = [
            _Claim(key, now + timedelta(seconds=until - here)) for key, until in waiting.items()
        ]
        try:
            await self._writer.submit(claims)
        except OnceError as exc:
            log.error("%s; %d claim(s) kept in this process's memory only", exc, len(claims))

    def _remember(self, key: str, lifetime: float) -> bool:
        """This process's own record: False if it already holds `key`, unexpired."""
        now = time.monotonic()
        with self._mine_lock:
            if self._mine.get(key, 0.0) > now:
                return False
            if len(self._mine) >= self._drop_expired_at:  # amortised: not on every call
                self._mine = {k: until for k, until in self._mine.items() if until > now}
                self._drop_expired_at = max(REMEMBERED, 2 * len(self._mine))
            self._mine[key] = now + lifetime
            return True

    def _write(self, batches: list[list[_Claim]]) -> None:
        claims = [claim for batch in batches for claim in batch]
        self._run("written", self._record if self._decides_here else self._insert, claims)

    def _record(self, claims: list[_Claim]) -> None:
        """SQLite: record the claims memory has decided, in one statement executed for them
        all. Its parameters are converted by the column's own type, as SQLAlchemy would, but
        once for `now`, not per row: SQLAlchemy's conversion of each row's parameters cost
        more than SQLite's insert (~9 µs a claim, against ~5; bench/README.md)."""
        now = datetime.now(UTC)
        convert = _as_stored(self._engine.dialect)
        stored_now = convert(now)
        rows = [(c.key, convert(c.expires_at), stored_now) for c in claims if c.expires_at > now]
        with self._engine.begin() as connection:
            self._clean_up(connection, now)
            written = connection.exec_driver_sql(_RECORD_SQL, rows).rowcount if rows else 0
        for claim in claims:
            claim.first = True
        if 0 <= written < len(rows):
            log.warning(
                "%d seen-once claim(s) were already recorded by another process: one serve per "
                "SQLite file (several need PostgreSQL, INTERFACE §10)",
                len(rows) - written,
            )

    def _insert(self, claims: list[_Claim]) -> None:
        """PostgreSQL (or another server): the database decides each claim."""
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            self._clean_up(connection, now)
            taken: set[str] = set()
            for claim in claims:
                claim.first = claim.key not in taken and self._claim(connection, claim, now)
                taken.add(claim.key)

    def _clean_up(self, connection: Connection, now: datetime) -> None:
        if self._cleanup_due():
            connection.execute(_CLEANUP, {"now": now})
            self._last_cleanup = time.monotonic()

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


def _as_stored(dialect: Dialect) -> Callable[[datetime], Any]:
    """How the dialect stores an `expires_at` (SQLAlchemy's own conversion of that column)."""
    processor = SeenOnce.__table__.c.expires_at.type.bind_processor(dialect)
    return processor if processor is not None else _unchanged


def _unchanged(value: datetime) -> Any:
    return value


def _kind(key: str) -> str:
    """What a key records (`signature`, `envelope`), without the key itself."""
    return key.split(":", 1)[0]


def _upsert(dialect: Any) -> Any:
    """INSERT ... ON CONFLICT: a new row, or an expired one renewed. Built once (SQLAlchemy then
    compiles it once)."""
    statement = dialect.insert(SeenOnce).values(
        key=bindparam("key"), expires_at=bindparam("expires_at")
    )
    return statement.on_conflict_do_update(
        index_elements=[SeenOnce.key],
        set_={"expires_at": statement.excluded.expires_at},
        where=SeenOnce.expires_at <= bindparam("now"),
    )


# RETURNING says whether this claim won
_UPSERT = {
    "postgresql": _upsert(postgresql).returning(SeenOnce.key),
    "sqlite": _upsert(sqlite).returning(SeenOnce.key),
}
# SQLite, claims decided in memory: executed for many at once (`_upsert`, as SQLite reads it)
_RECORD_SQL = (
    f"INSERT INTO {SeenOnce.__tablename__} (key, expires_at) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at"
    f" WHERE {SeenOnce.__tablename__}.expires_at <= ?"
)
_UNEXPIRED = select(SeenOnce.key, SeenOnce.expires_at).where(SeenOnce.expires_at > bindparam("now"))
_CLEANUP = delete(SeenOnce).where(SeenOnce.expires_at <= bindparam("now"))
_EXPIRED_KEY = delete(SeenOnce).where(
    (SeenOnce.key == bindparam("key")) & (SeenOnce.expires_at <= bindparam("now"))
)


CLAIM_SQL = (
    f"INSERT INTO {SeenOnce.__tablename__} (key, expires_at)"
    " SELECT * FROM unnest(%s::varchar[], %s::timestamptz[])"
    " ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at"
    f" WHERE {SeenOnce.__tablename__}.expires_at <= %s RETURNING key"
)
"""PostgreSQL: claim the keys (%s: keys, their expiry, now), a new key or an expired one renewed;
returns the keys that won. Also written by the command's record (`bot.coordination.journal`)."""
_CLEANUP_SQL = f"DELETE FROM {SeenOnce.__tablename__} WHERE expires_at <= %s"


def _brisk_sqlite(connection: Any, _: Any) -> None:
    """SQLite: write-ahead logging, so that the writer waits for no reader and no fsync of the
    audit log's writer (a claim lost to a power cut only lets one replay through); and
    transactions begun by SQLAlchemy (`_begin_immediate`), not by the driver."""
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when the write begins, waiting for it if need be. Begun the
    default way, the insert would read first and then find the file changed by another
    writer: "database is locked" at once, no waiting."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")
