"""Backup run history in `DATABASE_URL` (table `backup_runs`), and the claim that makes each
scheduled time run once.

`claim(scheduled_for)` inserts a row whose `claimed_for` is unique: when two clock processes run
by mistake, the database lets exactly one of them have a given scheduled time.
`start`/`finish` record every run (scheduled, manual or from the command line) with its outcome,
file and size; `recent` reads them back for `/pexip backup list`.

History is a record, not a step: `start` and `finish` log a database failure and carry on, so the
backup itself never fails because of it. Synchronous SQLAlchemy runs in a worker thread, with the
URL and engine helpers of `bot.store.audit`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import BigInteger, Integer, String, Text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.store.database import TableStore, UTCDateTime

if TYPE_CHECKING:
    from bot.backup.report import BackupReport

log = logging.getLogger(__name__)

T = TypeVar("T")


class HistoryError(Exception):
    """The history could not be read or written; the message hides any password."""


@dataclass(frozen=True)
class BackupRun:
    """One run as recorded; `outcome` is "running" until it finishes ("success"/"failure")."""

    id: int
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    scheduled_for: datetime | None = None
    requested_by: str | None = None
    failed_step: str | None = None
    reason: str = ""
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    local_path: str | None = None
    late_by: timedelta | None = None


class _Base(DeclarativeBase):
    pass


class BackupRunRow(_Base):
    __tablename__ = "backup_runs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    claimed_for: Mapped[datetime | None] = mapped_column(UTCDateTime, unique=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    failed_step: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    local_path: Mapped[str | None] = mapped_column(Text)
    late_seconds: Mapped[int | None] = mapped_column(Integer)

    def finish(self, report: BackupReport) -> None:
        local = report.stored_at.local_path if report.stored_at else None
        self.finished_at = report.finished_at
        self.outcome = report.outcome
        self.failed_step = report.failed_step
        self.reason = report.reason
        self.filename = report.filename
        self.size = report.size
        self.sha256 = report.sha256
        self.local_path = str(local) if local else None
        self.late_seconds = round(report.late_by.total_seconds()) if report.late_by else None

    def run(self) -> BackupRun:
        late = self.late_seconds
        return BackupRun(
            id=self.id,
            trigger=self.trigger,
            started_at=self.started_at,
            finished_at=self.finished_at,
            outcome=self.outcome,
            scheduled_for=self.scheduled_for,
            requested_by=self.requested_by,
            failed_step=self.failed_step,
            reason=self.reason,
            filename=self.filename,
            size=self.size,
            sha256=self.sha256,
            local_path=self.local_path,
            late_by=timedelta(seconds=late) if late is not None else None,
        )


class BackupHistory(TableStore):
    """The `backup_runs` table in `database_url` (created on first use)."""

    error = HistoryError
    what = "the backup history"

    def __init__(self, database_url_text: str) -> None:
        super().__init__(database_url_text, _Base.metadata, BackupRunRow.__tablename__)

    async def claim(self, scheduled_for: datetime) -> bool:
        """True for the first caller for this scheduled time, False for any later one, in any
        process sharing the database. Raises HistoryError if the database cannot be used."""
        return await self._call("written", self._claim, scheduled_for)

    async def start(
        self,
        trigger: str,
        started_at: datetime,
        scheduled_for: datetime | None = None,
        requested_by: str | None = None,
    ) -> int | None:
        """Record a run as running; its id, or None if the database failed (logged)."""
        try:
            return await self._call(
                "written", self._start, trigger, started_at, scheduled_for, requested_by
            )
        except HistoryError as exc:
            log.error("backup run not recorded: %s", exc)
            return None

    async def finish(self, run_id: int | None, report: BackupReport) -> None:
        """Record the outcome (a whole new row if `start` had failed); failures are logged."""
        try:
            await self._call("written", self._finish, run_id, report)
        except HistoryError as exc:
            log.error(
                "backup outcome not recorded (%s: %s): %s", report.outcome, report.filename, exc
            )

    async def recent(self, limit: int = 10) -> list[BackupRun]:
        """The latest runs, newest first. Raises HistoryError."""
        return await self._call("read", self._recent, limit)

    def outcome_totals(self) -> tuple[dict[str, int], datetime | None]:
        """Finished runs by outcome, and when the last success finished (blocking: for the
        metrics scrape, run in a worker thread). Raises HistoryError."""
        return self._run("read", self._outcome_totals)

    def close(self) -> None:
        self.dispose()

    # --- in the worker thread ----------------------------------------------------------

    def _claim(self, scheduled_for: datetime) -> bool:
        row = BackupRunRow(
            claimed_for=scheduled_for,
            scheduled_for=scheduled_for,
            trigger="schedule",
            started_at=datetime.now(UTC),
            outcome="running",
        )
        try:
            with Session(self._engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            return False
        return True

    def _start(
        self,
        trigger: str,
        started_at: datetime,
        scheduled_for: datetime | None,
        requested_by: str | None,
    ) -> int:
        with Session(self._engine) as session, session.begin():
            claimed = self._claimed_row(session, scheduled_for)
            if claimed is not None:
                session.execute(
                    update(BackupRunRow)
                    .where(BackupRunRow.id == claimed)
                    .values(started_at=started_at, trigger=trigger, requested_by=requested_by)
                )
                return claimed
            row = BackupRunRow(
                scheduled_for=scheduled_for,
                trigger=trigger,
                requested_by=requested_by,
                started_at=started_at,
                outcome="running",
            )
            session.add(row)
            session.flush()
            return row.id

    @staticmethod
    def _claimed_row(session: Session, scheduled_for: datetime | None) -> int | None:
        """The unfinished claimed row for this scheduled time, if any."""
        if scheduled_for is None:
            return None
        query = select(BackupRunRow.id).where(
            BackupRunRow.claimed_for == scheduled_for, BackupRunRow.finished_at.is_(None)
        )
        return session.scalars(query).first()

    def _finish(self, run_id: int | None, report: BackupReport) -> None:
        with Session(self._engine) as session, session.begin():
            row = session.get(BackupRunRow, run_id) if run_id is not None else None
            if row is None:
                row = BackupRunRow(
                    trigger=report.trigger,
                    requested_by=report.requested_by,
                    scheduled_for=report.scheduled_for,
                    started_at=report.started_at,
                )
                session.add(row)
            row.finish(report)

    def _recent(self, limit: int) -> list[BackupRun]:
        query = (
            select(BackupRunRow)
            .order_by(BackupRunRow.started_at.desc(), BackupRunRow.id.desc())
            .limit(limit)
        )
        with Session(self._engine) as session:
            return [row.run() for row in session.scalars(query)]

    def _outcome_totals(self) -> tuple[dict[str, int], datetime | None]:
        with Session(self._engine) as session:
            counted = session.execute(
                select(BackupRunRow.outcome, func.count()).group_by(BackupRunRow.outcome)
            )
            last = session.scalar(
                select(func.max(BackupRunRow.finished_at)).where(BackupRunRow.outcome == "success")
            )
            return {outcome: count for outcome, count in counted}, last

    # --- plumbing ------------------------------------------------------------------------

    async def _call(self, verb: str, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(self._run, verb, work, *args)
