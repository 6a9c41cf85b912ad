"""What the health alerts remember, in `DATABASE_URL` (table `health_alerts`): each open alert
with the Slack message that announced it, and each node's last maintenance state. A restarted
clock reads it back, so it posts nothing twice and still edits the old messages.

A message is claimed before it is posted (`claim` inserts the row; the (kind, key) pair is
unique), and its `ts` stored after: a crash in between can lose a message, never post it twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.health.alerts import Entry, Key
from bot.store.database import TableStore, UTCDateTime

T = TypeVar("T")


class AlertStoreError(Exception):
    """The alert state could not be read or written; the message hides any password."""


class _Base(DeclarativeBase):
    pass


class AlertRow(_Base):
    __tablename__ = "health_alerts"
    __table_args__ = (UniqueConstraint("kind", "key", name="health_alerts_kind_key"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(300))
    data: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[str | None] = mapped_column(String(32))

    def entry(self) -> Entry:
        return Entry(self.kind, self.key, json.loads(self.data), self.since, self.channel, self.ts)


class AlertStore(TableStore):
    error = AlertStoreError
    what = "the health alert state"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, AlertRow.__tablename__)

    async def entries(self) -> dict[Key, Entry]:
        return await self._call("read", self._entries)

    async def claim(self, kind: str, key: str, data: dict[str, Any], since: datetime) -> bool:
        """Insert the row for a message about to be posted; False if it exists already."""
        return await self._call("written", self._claim, kind, key, data, since)

    async def posted(self, kind: str, key: str, channel: str, ts: str) -> None:
        await self._call("written", self._posted, kind, key, channel, ts)

    async def save(self, kind: str, key: str, data: dict[str, Any], since: datetime) -> None:
        """Insert or replace the row's data (no message)."""
        await self._call("written", self._save, kind, key, data, since)

    async def forget(self, kind: str, key: str) -> None:
        await self._call("written", self._forget, kind, key)

    def close(self) -> None:
        self.dispose()

    # --- in the worker thread ----------------------------------------------------------

    def _entries(self) -> dict[Key, Entry]:
        with Session(self._engine) as session:
            return {(row.kind, row.key): row.entry() for row in session.scalars(select(AlertRow))}

    def _claim(self, kind: str, key: str, data: dict[str, Any], since: datetime) -> bool:
        row = AlertRow(kind=kind, key=key, data=json.dumps(data), since=since)
        try:
            with Session(self._engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            return False
        return True

    def _posted(self, kind: str, key: str, channel: str, ts: str) -> None:
        with Session(self._engine) as session, session.begin():
            row = self._row(session, kind, key)
            if row is not None:
                row.channel, row.ts = channel, ts

    def _save(self, kind: str, key: str, data: dict[str, Any], since: datetime) -> None:
        with Session(self._engine) as session, session.begin():
            row = self._row(session, kind, key)
            if row is None:
                session.add(AlertRow(kind=kind, key=key, data=json.dumps(data), since=since))
            else:
                row.data, row.since = json.dumps(data), since

    def _forget(self, kind: str, key: str) -> None:
        with Session(self._engine) as session, session.begin():
            session.execute(delete(AlertRow).where(AlertRow.kind == kind, AlertRow.key == key))

    @staticmethod
    def _row(session: Session, kind: str, key: str) -> AlertRow | None:
        query = select(AlertRow).where(AlertRow.kind == kind, AlertRow.key == key)
        return session.scalars(query).first()

    async def _call(self, verb: str, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(self._run, verb, work, *args)
