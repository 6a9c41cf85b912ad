"""Backup run history and the per-scheduled-time claim, on an SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from bot.backup.history import BackupHistory, HistoryError
from bot.backup.report import BackupReport, StoredAt
from bot.store.database import database_url

POSTGRES_URL = os.environ.get("PEXBOT_TEST_POSTGRES_URL")
NIGHT = datetime(2026, 5, 2, 1, 0, tzinfo=UTC)


def reset_postgres(url: str) -> None:
    engine = sqlalchemy.create_engine(database_url(url))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP TABLE IF EXISTS backup_runs"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: an SQLite file not yet created, or PostgreSQL without the table."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/pexbot.db"
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def histories(db_url: str) -> Iterator[tuple[BackupHistory, BackupHistory]]:
    """Two clocks' views of the same database."""
    first, second = BackupHistory(db_url), BackupHistory(db_url)
    yield first, second
    first.close()
    second.close()


def report(**changes: object) -> BackupReport:
    values: dict[str, object] = {
        "outcome": "success",
        "trigger": "schedule",
        "started_at": NIGHT + timedelta(seconds=1),
        "finished_at": NIGHT + timedelta(seconds=15),
        "filename": "pexip_backup_mgr_36_1_26_05_02_01_00_10.tar.gpg",
        "size": 9369536,
        "sha256": "ab" * 32,
        "stored_at": StoredAt("manager.example.com", Path("/srv/backups/x.tar.gpg")),
        "scheduled_for": NIGHT,
    }
    return BackupReport(**(values | changes))  # type: ignore[arg-type]


async def test_a_scheduled_time_is_claimed_once_across_two_clocks(
    histories: tuple[BackupHistory, BackupHistory],
) -> None:
    first, second = histories

    assert await first.claim(NIGHT)
    assert not await second.claim(NIGHT)
    assert not await first.claim(NIGHT)
    assert await second.claim(NIGHT + timedelta(days=1))  # the next night is free


async def test_simultaneous_claims_let_exactly_one_clock_run(
    histories: tuple[BackupHistory, BackupHistory],
) -> None:
    first, second = histories
    await first.recent()  # both create the table first, as running clocks would have
    await second.recent()

    results = await asyncio.gather(*(h.claim(NIGHT) for h in (first, second) * 3))

    assert sorted(results) == [False] * 5 + [True]


async def test_a_run_is_recorded_from_start_to_finish(
    histories: tuple[BackupHistory, BackupHistory],
) -> None:
    history, _ = histories
    run_id = await history.start("manual", NIGHT, requested_by="U0ADMIN01")

    [running] = await history.recent()
    assert (running.id, running.outcome, running.finished_at) == (run_id, "running", None)

    await history.finish(run_id, report(trigger="manual", requested_by="U0ADMIN01"))

    [run] = await history.recent()
    assert (run.trigger, run.requested_by, run.outcome) == ("manual", "U0ADMIN01", "success")
    assert run.started_at == NIGHT and run.finished_at == NIGHT + timedelta(seconds=15)
    assert (run.filename, run.size, run.sha256) == (
        "pexip_backup_mgr_36_1_26_05_02_01_00_10.tar.gpg",
        9369536,
        "ab" * 32,
    )
    assert run.local_path == "/srv/backups/x.tar.gpg"


async def test_a_claimed_run_continues_in_the_same_row(
    histories: tuple[BackupHistory, BackupHistory],
) -> None:
    history, _ = histories
    assert await history.claim(NIGHT)

    run_id = await history.start("schedule", NIGHT + timedelta(hours=3), scheduled_for=NIGHT)
    late = timedelta(hours=3)
    await history.finish(
        run_id, report(outcome="failure", failed_step="wait", reason="No file.", late_by=late)
    )

    [run] = await history.recent()
    assert run.id == run_id and run.scheduled_for == NIGHT
    assert (run.outcome, run.failed_step, run.reason, run.late_by) == (
        "failure",
        "wait",
        "No file.",
        late,
    )


async def test_recent_lists_newest_first_up_to_the_limit(
    histories: tuple[BackupHistory, BackupHistory],
) -> None:
    history, _ = histories
    for day in range(4):
        started = NIGHT + timedelta(days=day)
        await history.finish(None, report(started_at=started, finished_at=started))

    runs = await history.recent(limit=3)

    assert [r.started_at.day for r in runs] == [5, 4, 3]


async def test_an_unreachable_database_never_fails_the_backup_but_the_claim_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    history = BackupHistory("postgresql://pexbot:hunter2secret@127.0.0.1:1/x?connect_timeout=2")

    assert await history.start("cli", NIGHT) is None
    await history.finish(None, report())
    with pytest.raises(HistoryError, match=r"could not be written") as raised:
        await history.claim(NIGHT)

    assert "hunter2secret" not in str(raised.value) and "hunter2secret" not in caplog.text
    assert "backup run not recorded" in caplog.text
    assert "backup outcome not recorded" in caplog.text
    history.close()
