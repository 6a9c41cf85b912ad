"""The clock and `pexbot backup run`, end to end: simulator, Slack stand-in, a real database.

Clock tests stay within a few seconds by storing a job whose run was missed (as if the clock had
been down), so the clock has something to do the moment it starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

import bot.slack.client
from bot.backup.clock import (
    JOB_FUNC,
    JOB_ID,
    backup_trigger,
    clock_settings,
    nightly_backup,
    run_backup_cli,
    scheduled_time,
    serve_clock,
)
from bot.backup.history import BackupHistory, BackupRun
from bot.config import ConfigError, Settings
from bot.store.approvals import ApprovalRequest, ApprovalStore
from bot.store.audit import AuditStore
from bot.store.database import database_url

PASSPHRASE = "pp-SECRET-4242"
CHANNEL = "C0BACKUPS"
ZONE = "Europe/London"
CREATE = "/api/admin/command/v1/platform/backup_create/"
POSTGRES_URL = os.environ.get("PEXBOT_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    engine = sqlalchemy.create_engine(database_url(url))
    with engine.begin() as connection:
        for table in ("backup_runs", "apscheduler_jobs"):
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


BOTH_DATABASES = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An SQLite file, or with BOTH_DATABASES also PostgreSQL (tables dropped)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path}/pexbot.db"
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, simulator: Any, slack_api: Any, tmp_path: Path, db_url: str
) -> dict[str, str]:
    """Everything configured as an admin would, through the environment."""
    simulator.control.settings(backup_delay=0.1)
    monkeypatch.setattr(bot.slack.client, "RETRY_BACKOFF", 0.01)
    values = {
        "PEXIP_MANAGER_URL": simulator.url,
        "PEXIP_USERNAME": simulator.username,
        "PEXIP_PASSWORD": simulator.password,
        "SLACK_BOT_TOKEN": slack_api.bot_token,
        "SLACK_API_URL": slack_api.url,
        "DATABASE_URL": db_url,
        "BACKUP_PASSPHRASE": PASSPHRASE,
        "BACKUP_CHANNEL": CHANNEL,
        "BACKUP_TIMEZONE": ZONE,
        "BACKUP_KEEP": "3",
        "BACKUP_WAIT_SECONDS": "3",
        "BACKUP_DOWNLOAD_DIR": str(tmp_path / "downloads"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def recent_runs(db_url: str) -> list[BackupRun]:
    history = BackupHistory(db_url)
    try:
        return await history.recent()
    finally:
        history.close()


def creates(simulator: Any) -> int:
    stats = simulator.control.stats()
    return sum(1 for c in stats["commands"] if c["command"] == "platform/backup_create")


def waiting_for_the_file(simulator: Any) -> bool:
    """The job has created the backup and is polling the listing for the new file: the node
    saw the create, and more listings than the one taken before it."""
    stats = simulator.control.stats()
    listings = stats["requests"].get("GET /api/admin/configuration/v1/system_backup/", 0)
    return creates(simulator) == 1 and listings >= 2


def schedule_missed_an_hour_ago(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Set BACKUP_SCHEDULE to a daily time an hour ago and return that time (UTC)."""
    due = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    local = due.astimezone(ZoneInfo(ZONE))
    monkeypatch.setenv("BACKUP_SCHEDULE", f"{local.minute} {local.hour} * * *")
    return due


def store_job(
    db_url: str, trigger: CronTrigger, next_run_time: datetime, func: str = JOB_FUNC
) -> None:
    """What a clock that went down before `next_run_time` left in the job store (written
    straight to the store: a scheduler would process the job when shut down)."""
    store = SQLAlchemyJobStore(url=database_url(db_url).render_as_string(hide_password=False))
    scheduler = BackgroundScheduler(timezone=ZoneInfo(ZONE))  # never started
    store.start(scheduler, "default")
    job = Job(
        scheduler,
        id=JOB_ID,
        func=func,
        trigger=trigger,
        executor="default",
        args=(),
        kwargs={},
        name="nightly backup",
        misfire_grace_time=3600 * 6,
        coalesce=True,
        max_instances=1,
        next_run_time=next_run_time,
    )
    store.add_job(job)
    store.shutdown()


async def wait_until(condition: Callable[[], Any]) -> None:
    deadline = time.monotonic() + 8
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def run_clocks(count: int, done: Callable[[], Any], settle: float = 0.0) -> list[int]:
    """Start `count` clocks, wait for `done`, let a little more time pass, stop them all."""
    stops = [asyncio.Event() for _ in range(count)]
    clocks = [asyncio.create_task(serve_clock(Settings.load(), stop=stop)) for stop in stops]
    try:
        await wait_until(done)
        await asyncio.sleep(settle)
    finally:
        for stop in stops:
            stop.set()
    return list(await asyncio.gather(*clocks))


# --- the clock -----------------------------------------------------------------------------


@BOTH_DATABASES
async def test_a_run_missed_while_the_clock_was_down_happens_at_start_up_reported_late(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    slack_api: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    due = schedule_missed_an_hour_ago(monkeypatch)
    store_job(env["DATABASE_URL"], backup_trigger(Settings.load().backup()), due)

    assert await run_clocks(1, slack_api.state.messages) == [0]

    [message] = slack_api.state.messages()
    local = due.astimezone(ZoneInfo(ZONE))
    assert message.channel == CHANNEL
    assert re.match(
        rf"Scheduled backup succeeded \(started 1 h( \d+ min)? late: "
        rf"the {local:%Y-%m-%d %H:%M %Z} run was missed\): pexip_backup_",
        message.text,
    ), message.text
    [run] = await recent_runs(env["DATABASE_URL"])
    assert (run.trigger, run.outcome, run.scheduled_for) == ("schedule", "success", due)
    assert run.late_by is not None and run.late_by >= timedelta(hours=1)
    assert "was missed while the clock was down" in caplog.text
    tomorrow = local + timedelta(days=1)
    assert f"next backup run at {tomorrow:%Y-%m-%d %H:%M:%S %Z} ({ZONE})" in caplog.text


@BOTH_DATABASES
async def test_two_clocks_on_one_database_make_one_run(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, simulator: Any, slack_api: Any
) -> None:
    due = schedule_missed_an_hour_ago(monkeypatch)
    store_job(env["DATABASE_URL"], backup_trigger(Settings.load().backup()), due)

    assert await run_clocks(2, slack_api.state.messages, settle=0.5) == [0, 0]

    assert len(slack_api.state.messages()) == 1
    assert creates(simulator) == 1
    assert len(await recent_runs(env["DATABASE_URL"])) == 1


@BOTH_DATABASES
async def test_two_clocks_firing_at_the_same_time_back_up_once_and_one_says_it_skipped(
    env: dict[str, str], simulator: Any, slack_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    when = datetime.now(UTC).replace(microsecond=0)

    await asyncio.gather(nightly_backup(when), nightly_backup(when))

    assert creates(simulator) == 1
    assert len(slack_api.state.messages()) == 1
    skipped = f"skipped the backup run of {when}: another clock process already claimed it"
    assert caplog.text.count(skipped) == 1


async def test_a_changed_schedule_replaces_the_stored_job_instead_of_running_it(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    simulator: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    due = schedule_missed_an_hour_ago(monkeypatch)
    old = CronTrigger.from_crontab("30 3 * * 1", timezone=ZoneInfo(ZONE))
    store_job(env["DATABASE_URL"], old, due)

    assert await run_clocks(1, lambda: "next backup run at" in caplog.text, settle=0.5) == [0]

    assert creates(simulator) == 0
    assert "BACKUP_SCHEDULE or BACKUP_TIMEZONE changed" in caplog.text


async def test_a_job_stored_by_a_version_before_the_backup_package_still_runs_when_missed(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, slack_api: Any
) -> None:
    due = schedule_missed_an_hour_ago(monkeypatch)
    trigger = backup_trigger(Settings.load().backup())
    store_job(env["DATABASE_URL"], trigger, due, func="bot.scheduler:nightly_backup")

    assert await run_clocks(1, slack_api.state.messages) == [0]

    [message] = slack_api.state.messages()
    assert message.text.startswith("Scheduled backup succeeded (started 1 h"), message.text


async def test_stopping_the_clock_mid_run_records_the_run_as_interrupted(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, simulator: Any
) -> None:
    simulator.control.settings(backup_delay=30)
    monkeypatch.setenv("BACKUP_WAIT_SECONDS", "60")
    due = schedule_missed_an_hour_ago(monkeypatch)
    store_job(env["DATABASE_URL"], backup_trigger(Settings.load().backup()), due)

    assert await run_clocks(1, lambda: waiting_for_the_file(simulator)) == [0]

    [run] = await recent_runs(env["DATABASE_URL"])
    assert (run.outcome, run.failed_step) == ("failure", "wait")
    assert run.reason == "The run was interrupted: pexbot was stopped."


def test_the_scheduled_time_is_the_latest_fire_time_not_after_now() -> None:
    trigger = CronTrigger.from_crontab("0 2 * * *", timezone=ZoneInfo(ZONE))
    london = ZoneInfo(ZONE)

    at_five = datetime(2026, 5, 2, 5, 0, tzinfo=london)
    assert scheduled_time(trigger, at_five) == datetime(2026, 5, 2, 2, 0, tzinfo=london)
    just_after = datetime(2026, 5, 2, 2, 0, 0, 300, tzinfo=london)
    assert scheduled_time(trigger, just_after) == datetime(2026, 5, 2, 2, 0, tzinfo=london)
    noon = datetime(2026, 5, 2, 12, 0, 0, 300, tzinfo=london)  # beyond the grace: "now"
    assert scheduled_time(trigger, noon) == noon.replace(microsecond=0)


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        ("BACKUP_CHANNEL", "BACKUP_CHANNEL"),
        ("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN"),
        ("BACKUP_PASSPHRASE", "BACKUP_PASSPHRASE"),
        ("PEXIP_MANAGER_URL", "PEXIP_MANAGER_URL"),
    ],
)
def test_the_clock_refuses_to_start_without_what_it_needs(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, unset: str, named: str
) -> None:
    monkeypatch.delenv(unset)

    with pytest.raises(ConfigError, match=named):
        clock_settings(Settings.load())


def test_an_impossible_schedule_is_a_config_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_SCHEDULE", "75 2 * * *")

    with pytest.raises(ConfigError, match=r"^BACKUP_SCHEDULE: "):
        clock_settings(Settings.load())


def test_the_clock_process_logs_its_next_run_and_stops_cleanly_on_sigterm(
    env: dict[str, str], tmp_path: Path
) -> None:
    log_file = tmp_path / "clock.log"
    code = "import sys; from bot.config import Settings; from bot.backup.clock import run_clock; "
    code += "sys.exit(run_clock(Settings.load()))"
    with log_file.open("w") as log:
        clock = subprocess.Popen(
            [sys.executable, "-c", code], env=os.environ.copy(), stderr=log, cwd=tmp_path
        )
    try:
        deadline = time.monotonic() + 15
        while "next backup run at" not in log_file.read_text():
            assert clock.poll() is None and time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.05)
        clock.send_signal(signal.SIGTERM)
        assert clock.wait(timeout=10) == 0
    finally:
        clock.kill()
    output = log_file.read_text()
    assert re.search(
        r"next backup run at \d{4}-\d\d-\d\d 02:00:00 (GMT|BST) \(Europe/London\)", output
    )
    assert "clock stopped" in output and "Traceback" not in output
    assert "PEXIP_MANAGER_URL uses plain http: the API password" in output  # the simulator's


# --- pexbot backup run ---------------------------------------------------------------------


def test_backup_run_succeeds_posts_and_exits_0(
    env: dict[str, str], slack_api: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run_backup_cli(Settings.load()) == 0

    line = capsys.readouterr().out.strip()
    assert line.startswith("Backup run from the command line succeeded: pexip_backup_")
    assert f"and in {tmp_path}/downloads/pexip_backup_" in line
    [message] = slack_api.state.messages()
    assert message.channel == CHANNEL and "succeeded" in message.text


@pytest.mark.parametrize(
    ("fault", "step"),
    [
        ({"method": "POST", "path": CREATE, "status": 400, "body": {"error": "Busy"}}, "creating"),
        ({"method": "GET", "path": "/api/admin/configuration/v1/system_backup/pexip_backup_",
          "drop_mid_response": True}, "downloading"),
    ],
    ids=["create-refused", "download-truncated"],
)  # fmt: skip
def test_backup_run_failing_posts_the_failure_and_exits_1(
    env: dict[str, str],
    simulator: Any,
    slack_api: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fault: dict[str, Any],
    step: str,
) -> None:
    simulator.control.add_fault(**fault)

    assert run_backup_cli(Settings.load()) == 1

    line = capsys.readouterr().out.strip()
    assert line.startswith(f"Backup run from the command line failed while {step} the backup")
    [message] = slack_api.state.messages()
    assert message.text.startswith("Backup run from the command line failed")
    assert any(b["type"] == "actions" for b in message.blocks)  # Retry now
    downloads = tmp_path / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []


def test_backup_run_when_the_file_never_appears_exits_1(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    simulator: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator.control.settings(backup_delay=30)
    monkeypatch.setenv("BACKUP_WAIT_SECONDS", "0.5")

    assert run_backup_cli(Settings.load()) == 1

    assert "failed while waiting for the backup file" in capsys.readouterr().out


def test_backup_run_with_slack_unavailable_exits_1_though_the_backup_was_made(
    env: dict[str, str], simulator: Any, slack_api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    slack_api.state.fail("chat.postMessage", 503, times=10)

    assert run_backup_cli(Settings.load()) == 1

    line = capsys.readouterr().out.strip()
    assert line.startswith("Backup run from the command line succeeded")
    assert line.endswith(f"The Slack notification to {CHANNEL} could not be posted.")
    assert creates(simulator) == 1


def test_backup_run_without_a_bot_token_just_prints(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")

    assert run_backup_cli(Settings.load()) == 0

    assert (
        capsys.readouterr()
        .out.strip()
        .endswith("(Not posted to Slack: SLACK_BOT_TOKEN is not set.)")
    )


def test_backup_run_without_a_passphrase_is_a_config_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKUP_PASSPHRASE")

    with pytest.raises(ConfigError, match="BACKUP_PASSPHRASE"):
        run_backup_cli(Settings.load())


def test_the_passphrase_appears_in_no_output_log_message_or_history_row(
    env: dict[str, str],
    simulator: Any,
    slack_api: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert run_backup_cli(Settings.load()) == 0
    refusal = {"error": f"wrong passphrase {PASSPHRASE}"}
    simulator.control.add_fault(method="POST", path=CREATE, status=400, body=refusal)
    assert run_backup_cli(Settings.load()) == 1

    out, err = capfd.readouterr()
    assert PASSPHRASE not in out + err + caplog.text
    assert all(PASSPHRASE not in m.text + str(m.blocks) for m in slack_api.state.messages())
    history = asyncio.run(recent_runs(env["DATABASE_URL"]))
    assert all(PASSPHRASE not in repr(run) for run in history)
    assert len(slack_api.state.messages()) == 2


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_of_two_clocks_on_postgres_one_acts_and_the_other_takes_over_when_it_stops(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    simulator: Any,
    slack_api: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.coordination.leader import describe_leader

    caplog.set_level(logging.INFO)
    due = schedule_missed_an_hour_ago(monkeypatch)
    store_job(env["DATABASE_URL"], backup_trigger(Settings.load().backup()), due)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(serve_clock(Settings.load(), stop=first_stop))
    await wait_until(slack_api.state.messages)  # the leader ran the missed backup
    second = asyncio.create_task(serve_clock(Settings.load(), stop=second_stop))
    try:
        await wait_until(lambda: "another clock leads (pexbot clock" in caplog.text)
        assert (await describe_leader(env["DATABASE_URL"])).waiting == 1
        assert caplog.text.count("this clock leads now") == 1

        first_stop.set()
        assert await first == 0
        await wait_until(lambda: caplog.text.count("this clock leads now") == 2)
        assert (await describe_leader(env["DATABASE_URL"])).waiting == 0
    finally:
        first_stop.set()
        second_stop.set()
        assert await second == 0
    assert creates(simulator) == 1  # the newcomer did not repeat the backup
    assert len(slack_api.state.messages()) == 1


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_of_two_clocks_started_at_the_same_moment_the_one_that_waits_says_so(
    env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Neither leads when both start: the one that waits still says so, and names the leader
    (INTERFACE 10: the leader is visible in the logs)."""
    from bot.coordination.leader import describe_leader

    caplog.set_level(logging.INFO)
    stops = [asyncio.Event(), asyncio.Event()]
    clocks = [asyncio.create_task(serve_clock(Settings.load(), stop=stop)) for stop in stops]
    try:
        await wait_until(lambda: "this clock leads now" in caplog.text)
        info = await describe_leader(env["DATABASE_URL"])
        await wait_until(lambda: "this one waits to take over" in caplog.text)
        assert f"another clock leads ({info.name}): this one waits" in caplog.text
        assert (await describe_leader(env["DATABASE_URL"])).waiting == 1
        assert caplog.text.count("this clock leads now") == 1
    finally:
        for stop in stops:
            stop.set()
        assert await asyncio.gather(*clocks) == [0, 0]


# --- approval expiry -----------------------------------------------------------------------


def approval_request(name: str, expires_in: float) -> ApprovalRequest:
    now, ref = datetime.now(UTC), f"{name}{uuid4().hex[:8]}"
    return ApprovalRequest(
        ref=ref,
        word="end",
        permission="end",
        command="{}",
        question="end VMR_1",
        target="VMR_1",
        conferences=("VMR_1",),
        approvers=("admin",),
        requester="U0MOD0001",
        team="T0TEST001",
        channel="C0ROOMS01",
        created_at=now - timedelta(minutes=10),
        expires_at=now + timedelta(seconds=expires_in),
        message_ts=f"1700000000.{ref[-6:]}",
    )


async def stored(db_url: str, *requests: ApprovalRequest) -> None:
    store = ApprovalStore(db_url)
    try:
        for request in requests:
            await store.add(request)
    finally:
        store.close()


async def states(db_url: str, *refs: str) -> list[str | None]:
    store = ApprovalStore(db_url)
    try:
        return [found.state if (found := await store.get(ref)) else None for ref in refs]
    finally:
        store.close()


async def expiries(db_url: str, ref: str) -> list[str]:
    store = AuditStore(db_url)
    try:
        return [e.detail for e in await store.recent(200) if e.correlation_id == ref]
    finally:
        store.close()


@BOTH_DATABASES
async def test_the_clock_expires_a_request_nobody_decided_once_and_leaves_the_others(
    env: dict[str, str], slack_api: Any
) -> None:
    """Two clocks: the one that leads (the only one, on SQLite) expires it, once."""
    due, later = approval_request("due", -5), approval_request("later", 600)
    await stored(env["DATABASE_URL"], due, later)
    count = 2 if env["DATABASE_URL"] == POSTGRES_URL else 1

    await run_clocks(count, lambda: slack_api.state.calls("chat.update"), settle=2.5)

    [edit] = slack_api.state.calls("chat.update")
    assert edit.params["ts"] == due.message_ts
    expired_at = f"{due.expires_at:%H:%M:%S} UTC"
    assert f"end VMR_1. :hourglass: Expired at {expired_at}: nothing was done" in str(edit.params)
    assert await states(env["DATABASE_URL"], due.ref, later.ref) == ["expired", "pending"]
    assert await expiries(env["DATABASE_URL"], due.ref) == [f"nobody approved it by {expired_at}"]
