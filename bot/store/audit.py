"""The audit log (INTERFACE §6): every attempt, stored through SQLAlchemy in `DATABASE_URL`.

`AuditStore` is the table (SQLite by default, PostgreSQL with the same code; created on first
use). The DB work is synchronous SQLAlchemy in one writer thread, so the event loop never
blocks; entries recorded while a write is under way are committed together in the next one
(`bot.store.group_commit`). `Auditor` is what handlers call: it scrubs secrets, stores, then posts
a one-line summary to `AUDIT_CHANNEL`. A failure to store or to post is logged with the
correlation id and the entry, never raised: by then the action has happened and the user must
still get an answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import BigInteger, Integer, String, Text, insert, inspect
from sqlalchemy import select as sa_select
from sqlalchemy import text as sql
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.health import metrics
from bot.slack.mrkdwn import Mrkdwn, literal
from bot.store.database import TableStore, UTCDateTime
from bot.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

PostToChannel = Callable[[str, str], Awaitable[None]]


class Outcome(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    DENIED = "denied"
    INVALID = "invalid"
    PENDING = "pending"  # waiting for a second person's approval
    REJECTED = "rejected"
    EXPIRED = "expired"


def new_correlation_id() -> str:
    """Eight hex characters: short enough to read out, unique enough to find one row."""
    return secrets.token_hex(4)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime = Field(default_factory=_utc_now)
    user: str
    team: str = ""
    channel: str = ""
    command: str
    target: str = ""
    outcome: Outcome
    detail: str = ""
    correlation_id: str = Field(default_factory=new_correlation_id)
    approved_by: str | None = None

    @field_validator("at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def as_json(self) -> dict[str, str | None]:
        """The `pexbot audit --json` object, keys in the order INTERFACE §6 shows; `ref` is the
        reference shown to the user (a request and its approval share it)."""
        return {
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user": self.user,
            "channel": self.channel,
            "command": self.command,
            "target": self.target,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "team": self.team,
            "correlation_id": self.correlation_id,
            "ref": self.correlation_id,
            "approved_by": self.approved_by,
        }

    def summary(self) -> Mrkdwn:
        """One line for AUDIT_CHANNEL: every part of it is outside text, shown literally."""
        what = f"{self.command} {self.target}".strip()
        where = f" in {self.channel}" if self.channel else ""
        detail = f" — {self.detail}" if self.detail else ""
        if self.approved_by:
            detail += f" (approved by {self.approved_by})"
        line = (
            f"{self.outcome.value}: {self.user} {what}{where}{detail} (ref {self.correlation_id})"
        )
        return literal(" ".join(line.split()))


# --- storage -------------------------------------------------------------------------------


class AuditError(Exception):
    """The audit database could not be read or written; the message hides any password."""


class _Base(DeclarativeBase):
    pass


class AuditRow(_Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(String(32), index=True)
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @staticmethod
    def columns(entry: AuditEntry) -> dict[str, Any]:
        """The row's values for an entry, each one storable whatever it holds (`storable`)."""
        return {
            "at": entry.at,
            "user_id": storable(entry.user, 64),
            "team_id": storable(entry.team, 64),
            "channel_id": storable(entry.channel, 64),
            "command": storable(entry.command, 64),
            "target": storable(entry.target),
            "outcome": entry.outcome.value,
            "detail": storable(entry.detail),
            "correlation_id": storable(entry.correlation_id, 32),
            "approved_by": None if entry.approved_by is None else storable(entry.approved_by, 64),
        }

    def entry(self) -> AuditEntry:
        return AuditEntry(
            at=self.at,
            user=self.user_id,
            team=self.team_id,
            channel=self.channel_id,
            command=self.command,
            target=self.target,
            outcome=Outcome(self.outcome),
            detail=self.detail,
            correlation_id=self.correlation_id,
            approved_by=self.approved_by,
        )


NUL_SHOWN_AS = "\u2400"  # ␀ SYMBOL FOR NULL
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str, limit: int | None = None) -> str:
    """Text any database takes, so no row is ever lost to what a guest typed: PostgreSQL refuses
    NUL in text (stored as ␀), no driver encodes a lone UTF-16 surrogate (from JSON `\\ud800`;
    stored as U+FFFD), and the short columns are cut at their length (`…` marks the cut)."""
    text = _SURROGATE.sub("\ufffd", text.replace("\x00", NUL_SHOWN_AS))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


class AuditStore(TableStore):
    """The `audit_log` table in `database_url`."""

    error = AuditError
    what = "the audit log"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, AuditRow.__tablename__)
        self._writer: GroupCommit[AuditEntry] = GroupCommit(self._write, name="audit")

    async def record(self, entry: AuditEntry) -> None:
        """Returns once the entry is committed (with any others recorded meanwhile)."""
        await self._writer.submit(entry)

    async def recent(self, limit: int = 50, since: datetime | None = None) -> list[AuditEntry]:
        """Newest first; `since` (inclusive) filters on `at`."""
        return await asyncio.to_thread(self._run, "read", self._select, limit, since)

    def close(self) -> None:
        self._writer.close()
        self.dispose()

    def _migrate(self) -> None:
        """A table from before approvals lacks `approved_by`: added (nullable); another process
        adding it at the same moment is no failure."""
        if self._has_approved_by():
            return
        try:
            with self._engine.begin() as connection:
                connection.execute(sql("ALTER TABLE audit_log ADD COLUMN approved_by VARCHAR(64)"))
        except SQLAlchemyError:
            if not self._has_approved_by():
                raise

    def _has_approved_by(self) -> bool:
        columns = inspect(self._engine).get_columns(AuditRow.__tablename__)
        return any(column["name"] == "approved_by" for column in columns)

    def _write(self, entries: list[AuditEntry]) -> None:
        self._run("written", self._insert, entries)

    def _insert(self, entries: list[AuditEntry]) -> None:
        rows = [AuditRow.columns(e) for e in entries]
        if self._engine.dialect.name != "postgresql":
            with self._engine.begin() as connection:
                connection.execute(insert(AuditRow), rows)
            return
        # One statement for the batch, atomic by itself, in autocommit: one round trip where
        # BEGIN, INSERT, COMMIT took three, after every command (bench/README.md, `several`).
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(insert(AuditRow).values(rows))

    def _select(self, limit: int, since: datetime | None) -> list[AuditEntry]:
        query = sa_select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        with Session(self._engine) as session:
            return [row.entry() for row in session.scalars(query)]


# --- what handlers call --------------------------------------------------------------------

_TOKEN_SHAPES = re.compile(r"\bx(?:ox[abpsore]|app)-[A-Za-z0-9-]+")


class Scrubber:
    """Replaces every known secret value (and anything shaped like a Slack token) with ***."""

    def __init__(self, values: Iterable[str | SecretStr | None] = ()) -> None:
        plain = (v.get_secret_value() if isinstance(v, SecretStr) else v for v in values)
        self._values = sorted({v for v in plain if v}, key=len, reverse=True)

    def text(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return _TOKEN_SHAPES.sub("***", text)

    def entry(self, entry: AuditEntry) -> AuditEntry:
        fields = ("user", "team", "channel", "command", "target", "detail")
        return entry.model_copy(update={f: self.text(getattr(entry, f)) for f in fields})


class Auditor:
    """Record an attempt: scrub, store, and post a summary to the audit channel if one is set."""

    def __init__(
        self,
        store: AuditStore,
        post_to_channel: PostToChannel | None = None,
        channel: str | None = None,
        *,
        secrets: Iterable[str | SecretStr | None] = (),
    ) -> None:
        self._store = store
        self._post = post_to_channel
        self._channel = channel
        self._scrubber = Scrubber(secrets)

    async def record(
        self,
        *,
        user: str,
        command: str,
        outcome: Outcome | str,
        target: str = "",
        detail: str = "",
        channel: str = "",
        team: str = "",
        correlation_id: str | None = None,
        approved_by: str | None = None,
    ) -> AuditEntry:
        """Returns the stored entry; show `entry.correlation_id` in error messages."""
        entry = AuditEntry(
            user=user,
            team=team,
            channel=channel,
            command=command,
            target=target,
            outcome=Outcome(outcome),
            detail=detail,
            correlation_id=correlation_id or new_correlation_id(),
            approved_by=approved_by,
        )
        entry = self._scrubber.entry(entry)
        metrics.count_command(command, entry.outcome.value)
        await self._store_entry(entry)
        await self._post_summary(entry)
        return entry

    async def _store_entry(self, entry: AuditEntry) -> None:
        try:
            await self._store.record(entry)
        except AuditError as exc:
            log.error(
                "audit %s not stored: %s; entry: %s", entry.correlation_id, exc, entry.as_json()
            )

    async def _post_summary(self, entry: AuditEntry) -> None:
        if self._post is None or not self._channel:
            return
        try:
            await self._post(self._channel, entry.summary())
        except Exception as exc:  # any failure of the post must not reach the user's command
            log.warning("audit %s not posted to %s: %s", entry.correlation_id, self._channel, exc)
