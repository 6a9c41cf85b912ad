"""The database behind the audit log and the backup runs: one URL, one way to open it.

`DATABASE_URL` is SQLite by default (the file's folder is created) or PostgreSQL through
psycopg 3 (plain `postgresql://` and Heroku's `postgres://` are mapped to it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
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
