"""Requests waiting for a second person's approval (INTERFACE §5 `approval`), in `DATABASE_URL`.

A request is one row; deciding it is one conditional UPDATE (`pending` → `approved`, `rejected`
or `expired`, only while it is still pending, and for an approval only before it expires). The
database settles every race: of two clicks at the same moment, in one process or two, or of a
click and the expiry sweep, exactly one changes the row and the others find it decided. So a
request survives a restart, and a click may reach any process.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import String, Text, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.store.audit import storable
from bot.store.database import TableStore, UTCDateTime

State = Literal["pending", "approved", "rejected", "expired"]


class ApprovalError(Exception):
    """The approvals table could not be read or written; the message hides any password."""


class _Base(DeclarativeBase):
    pass


class ApprovalRow(_Base):
    __tablename__ = "approval_requests"

    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    word: Mapped[str] = mapped_column(String(64))
    permission: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(Text)  # the command's button value (registry.encode)
    question: Mapped[str] = mapped_column(Text)  # what is asked, as the message said it
    target: Mapped[str] = mapped_column(Text)  # the audit target
    conferences: Mapped[str] = mapped_column(Text)  # JSON list; [] for node-wide commands
    approvers: Mapped[str] = mapped_column(Text)  # JSON list of role names
    requester: Mapped[str] = mapped_column(String(64))
    team: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass(frozen=True)
class ApprovalRequest:
    """One request, as stored."""

    ref: str
    word: str
    permission: str
    command: str
    question: str
    target: str
    conferences: tuple[str, ...]
    approvers: tuple[str, ...]
    requester: str
    team: str
    channel: str
    created_at: datetime
    expires_at: datetime
    state: State = "pending"
    message_ts: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    def columns(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "word": self.word,
            "permission": self.permission,
            "command": self.command,
            "question": storable(self.question),
            "target": storable(self.target),
            "conferences": json.dumps(self.conferences),
            "approvers": json.dumps(self.approvers),
            "requester": self.requester,
            "team": self.team,
            "channel": self.channel,
            "message_ts": self.message_ts,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "state": self.state,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
        }

    @classmethod
    def of(cls, row: ApprovalRow) -> ApprovalRequest:
        state: State = row.state  # type: ignore[assignment]  # only this module writes it
        return cls(
            ref=row.ref,
            word=row.word,
            permission=row.permission,
            command=row.command,
            question=row.question,
            target=row.target,
            conferences=tuple(json.loads(row.conferences)),
            approvers=tuple(json.loads(row.approvers)),
            requester=row.requester,
            team=row.team,
            channel=row.channel,
            created_at=row.created_at,
            expires_at=row.expires_at,
            state=state,
            message_ts=row.message_ts,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
        )


class ApprovalStore(TableStore):
    """The `approval_requests` table in `database_url`."""

    error = ApprovalError
    what = "the approval requests"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, ApprovalRow.__tablename__)

    async def add(self, request: ApprovalRequest) -> None:
        await asyncio.to_thread(self._run, "written", self._add, request)

    async def get(self, ref: str) -> ApprovalRequest | None:
        return await asyncio.to_thread(self._run, "read", self._get, ref)

    async def posted(self, ref: str, message_ts: str) -> None:
        """Where the request's message is, so whoever decides it can edit it in place."""
        values = {"message_ts": message_ts}
        await asyncio.to_thread(self._run, "written", self._update, ref, None, values)

    async def decide(self, ref: str, state: State, by: str, now: datetime) -> bool:
        """`pending` → `state` by `by`, if it is still pending (and, unless it is the expiry,
        not expired at `now`). True for the one caller that changed it."""
        deadline = None if state == "expired" else now
        values = {"state": state, "decided_by": by or None, "decided_at": now}
        changed: bool = await asyncio.to_thread(
            self._run, "written", self._update, ref, deadline, values
        )
        return changed

    async def due(self, now: datetime, limit: int = 100) -> list[ApprovalRequest]:
        """Pending requests whose time is up at `now` (the sweep then expires each)."""
        return await asyncio.to_thread(self._run, "read", self._due, now, limit)

    def close(self) -> None:
        self.dispose()

    def _add(self, request: ApprovalRequest) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(ApprovalRow), [request.columns()])

    def _get(self, ref: str) -> ApprovalRequest | None:
        with Session(self._engine) as session:
            row = session.get(ApprovalRow, ref)
            return None if row is None else ApprovalRequest.of(row)

    def _update(self, ref: str, before: datetime | None, values: dict[str, object]) -> bool:
        statement = update(ApprovalRow).where(ApprovalRow.ref == ref)
        if "state" in values:
            statement = statement.where(ApprovalRow.state == "pending")
        if before is not None:
            statement = statement.where(ApprovalRow.expires_at > before)
        with self._engine.begin() as connection:
            return connection.execute(statement.values(**values)).rowcount == 1

    def _due(self, now: datetime, limit: int) -> list[ApprovalRequest]:
        query = (
            select(ApprovalRow)
            .where(ApprovalRow.state == "pending", ApprovalRow.expires_at <= now)
            .order_by(ApprovalRow.expires_at)
            .limit(limit)
        )
        with Session(self._engine) as session:
            return [ApprovalRequest.of(row) for row in session.scalars(query)]
