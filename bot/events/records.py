"""Live-meeting bookkeeping in `DATABASE_URL` (INTERFACE §8, §10): which Slack message belongs
to which conference and participant, and the state the events have built, so that a restarted
process edits its existing messages instead of posting new ones.

One small key-value table: `p:<uuid>` a participant, `c:<name>` a conference, `m:<...>` a
message (its channel and ts). Each row holds a JSON object. A process reads every row once at
start; changes are made in memory at once and written behind, in order, by one writer thread
that commits whatever has queued up together (`bot.store.group_commit`): a burst of events
costs a few commits, not one each, and the event consumer never waits for the disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import Float, String, Text, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.database import TableStore
from bot.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

Record = dict[str, Any]
Change = tuple[str, str | None]  # (key, JSON text) or (key, None): delete


class LiveError(Exception):
    """The live-meeting records could not be read or written; no password in the message."""


class _Base(DeclarativeBase):
    pass


class LiveRow(_Base):
    __tablename__ = "live_record"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated: Mapped[float] = mapped_column(Float, default=0.0)


class LiveRecords(TableStore):
    """The `live_record` table, mirrored in memory (`get` never waits for the database)."""

    error = LiveError
    what = "the live-meeting records"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, LiveRow.__tablename__)
        self._rows: dict[str, Record] | None = None
        self._writer: GroupCommit[Change] = GroupCommit(self._write, name="live-records")
        self._writes: set[asyncio.Task[None]] = set()

    async def load(self) -> None:
        if self._rows is None:
            rows = await asyncio.to_thread(self._run, "read", self._select)
            self._rows = rows

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
        self._behind((key, json.dumps(value, ensure_ascii=False, separators=(",", ":"))))

    async def drop(self, *keys: str) -> None:
        assert self._rows is not None, "load() first"
        for key in keys:
            self._rows.pop(key, None)
            self._behind((key, None))

    async def written(self) -> None:
        """Until every change so far is in the database (tests, shutdown)."""
        while self._writes:
            await asyncio.wait(set(self._writes))

    def close(self) -> None:
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

    def _select(self) -> dict[str, Record]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(LiveRow.key, LiveRow.value)).all()
        return {key: json.loads(value) for key, value in rows}

    def _apply(self, changes: list[Change]) -> None:
        """One transaction for the batch: the last change of each key, in order."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        latest = dict(changes)
        with self._engine.begin() as connection:
            for key, text in latest.items():
                if text is None:
                    connection.execute(delete(LiveRow).where(LiveRow.key == key))
                    continue
                statement = dialect.insert(LiveRow).values(key=key, value=text, updated=0.0)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[LiveRow.key], set_={"value": text}
                    )
                )
