"""The database behind the audit log and the backup runs: one URL, one way to open it.

`DATABASE_URL` is SQLite by default (the file's folder is created) or PostgreSQL through
psycopg 3 (plain `postgresql://` and Heroku's `postgres://` are mapped to it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, inspect
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from bot.config import ConfigError


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps go in as UTC and come out aware, on SQLite (no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def database_url(text: str) -> URL:
    """Parse `DATABASE_URL`; plain `postgresql://` (or Heroku's `postgres://`) means psycopg 3."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL: not a database URL, e.g. sqlite:///pexbot.db or postgresql://host/db"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def make_engine(url: URL) -> Engine:
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    try:
        return create_engine(url, **options)
    except (NoSuchModuleError, ImportError) as exc:
        hint = " (pip install 'pexbot[postgres]')" if url.get_backend_name() == "postgresql" else ""
        raise ConfigError(f"DATABASE_URL: no driver for {url.drivername}: {exc}{hint}") from None


def ensure_sqlite_folder(url: URL) -> None:
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


T = TypeVar("T")


def _nothing() -> None:
    return None


class TableStore:
    """One table in `DATABASE_URL`, for the audit log and the backup runs alike: the engine,
    the table created on first use (tolerating another process creating it at the same moment),
    and SQLAlchemy errors turned into `error`, worded with `what` and no password.

    Work runs in worker threads; a single shared connection (in-memory SQLite) is serialised.
    """

    error: type[Exception] = RuntimeError
    what: str = "the database"

    def __init__(self, database_url_text: str, metadata: MetaData, table: str) -> None:
        self._url = database_url(database_url_text)
        self._engine = make_engine(self._url)
        self._metadata = metadata
        self._table = table
        self._schema_lock = threading.Lock()
        self._schema_ready = False
        self._serial = threading.Lock() if isinstance(self._engine.pool, StaticPool) else None

    @property
    def url(self) -> str:
        """The URL with any password hidden, for messages."""
        return self._url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self._engine.dispose()

    def prepare(self) -> None:
        """Before serving (blocking): the table created if need be and one pooled connection
        open, so that the first request waits for neither. On PostgreSQL an engine's first
        connection also asks the server about itself (several round trips): tens of ms that
        fell on the first acknowledgements of a new process (bench/README.md, `several`).
        Raises `error` if the database cannot be reached."""
        self._run("reached", _nothing)

    def _run(self, verb: str, work: Callable[..., T], *args: Any) -> T:
        """Do `work(*args)` (blocking), once the table exists; `verb` words a failure."""
        try:
            if self._serial is None:
                return self._with_schema(work, *args)
            with self._serial:
                return self._with_schema(work, *args)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise self.error(f"{self.what} at {self.url} could not be {verb}: {reason}") from exc

    def _with_schema(self, work: Callable[..., T], *args: Any) -> T:
        self._ensure_schema()
        return work(*args)

    def _ensure_schema(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            ensure_sqlite_folder(self._url)
            try:
                self._metadata.create_all(self._engine)
            except SQLAlchemyError:
                if not inspect(self._engine).has_table(self._table):
                    raise
            self._migrate()
            self._schema_ready = True

    def _migrate(self) -> None:
        """Bring a table made by an older version up to date (once, after it is created)."""
