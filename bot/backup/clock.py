"""The clock (`pexbot clock`) and `pexbot backup run`.

APScheduler runs `nightly_backup` on BACKUP_SCHEDULE in BACKUP_TIMEZONE, with its job state in
DATABASE_URL (SQLAlchemyJobStore): a run missed while the clock was down happens at start-up,
within MISFIRE_GRACE, and is reported as late. Coalesced, one instance at a time.

The stored job is kept when its schedule is unchanged. `replace_existing` alone would overwrite
a missed run time with the next future one and lose the missed run, so it is used only when
BACKUP_SCHEDULE or BACKUP_TIMEZONE changed.

The job is a module-level function referenced by name in the job store, with no arguments: it
reads the settings when it runs, so no secret is ever pickled into the database. It works out
its scheduled time from the trigger (the latest fire time not after now: the one APScheduler
coalesced to) and claims it in `backup_runs` first, so a scheduled time runs once whichever
clock runs it.

Only the leading clock runs its scheduler (`bot.coordination.leader`): on PostgreSQL any number
of clocks may run, the others wait and the first in line takes over when the leader goes; the
claim above covers a leader lost in the middle of a run (its run goes on, nobody repeats it).
Besides the backup the scheduler runs the health poll (`bot.health.poll`) and the expiry of
approval requests (`bot.approval_expiry`, every few seconds, from a job store in memory).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import weakref
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import SQLAlchemyError

from bot.approval_expiry import JOB_ID as EXPIRY_JOB_ID
from bot.approval_expiry import ApprovalExpiry, schedule_expiry
from bot.approval_expiry import job_stores as expiry_job_stores
from bot.backup.cron import cron_trigger
from bot.backup.history import BackupHistory, HistoryError
from bot.backup.job import run_backup, utc_now
from bot.backup.notify import human_duration, notify, summary
from bot.backup.report import BackupReport, Trigger
from bot.config import (
    BackupSettings,
    ConfigError,
    Settings,
    configure_logging,
    warn_about_transport,
)
from bot.coordination.leader import Leader, clock_leader
from bot.coordination.node_slots import node_slots
from bot.health.exposition import serve_metrics
from bot.health.poll import JOB_ID as HEALTH_JOB_ID
from bot.health.poll import schedule_health
from bot.pexip.client import PexipClient
from bot.slack.client import slack_client
from bot.store.database import database_url, ensure_sqlite_folder, make_engine

log = logging.getLogger(__name__)

JOB_ID = "nightly-backup"
JOB_FUNC = "bot.backup.clock:nightly_backup"
MISFIRE_GRACE = timedelta(hours=6)
STOP_GRACE = 5.0
"""Seconds a run cut short by SIGTERM gets to record that it was interrupted."""

_running: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()


# --- the job -------------------------------------------------------------------------------


async def nightly_backup(scheduled_for: datetime | None = None) -> None:
    """The clock's job: claim this scheduled time, run the backup, post the notification."""
    task = asyncio.current_task()
    if task is not None:
        _running.add(task)
    try:
        settings = Settings.load()
        when = scheduled_for or scheduled_time(backup_trigger(settings.backup()), utc_now())
    except ConfigError as exc:
        log.error("the scheduled backup cannot run: configuration error: %s", exc)
        return
    history = BackupHistory(settings.database_url)
    try:
        if await _claim(history, when):
            await run_and_notify(settings, history, trigger="schedule", scheduled_for=when)
    finally:
        history.close()


def scheduled_time(trigger: CronTrigger, now: datetime) -> datetime:
    """The latest fire time not after `now` (within MISFIRE_GRACE), else `now` itself."""
    fire = trigger.get_next_fire_time(None, now - MISFIRE_GRACE)
    latest = now.replace(microsecond=0)
    found = False
    while fire is not None and fire <= now:
        latest, found = fire, True
        fire = trigger.get_next_fire_time(fire, now)
    if not found:
        log.warning("no scheduled time in the last %s; recording this run at now", MISFIRE_GRACE)
    return latest


async def _claim(history: BackupHistory, when: datetime) -> bool:
    try:
        claimed = await history.claim(when)
    except HistoryError as exc:
        # A backup too many is harmless; a missed one is not.
        log.error("could not claim the backup run of %s (%s); running it anyway", when, exc)
        return True
    if not claimed:
        log.info("skipped the backup run of %s: another clock process already claimed it", when)
    return claimed


async def run_and_notify(
    settings: Settings,
    history: BackupHistory,
    *,
    trigger: Trigger,
    scheduled_for: datetime | None = None,
) -> tuple[BackupReport, bool | None]:
    """Run the job once and post the notification; None when no channel or bot token is set."""
    backup = settings.backup()
    pexip = settings.pexip()
    slots = node_slots(settings.database_url, pexip.max_concurrency)  # shared with `serve`
    try:
        async with PexipClient(pexip, slots=slots) as client:
            report = await run_backup(
                client, backup, history=history, trigger=trigger, scheduled_for=scheduled_for
            )
    finally:
        await slots.close()
    if not backup.channel or settings.slack_bot_token is None:
        return report, None
    slack = slack_client(settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url))
    return report, await notify(slack, backup.channel, report)


def backup_trigger(settings: BackupSettings) -> CronTrigger:
    try:
        return cron_trigger(settings.schedule, settings.timezone)
    except ValueError as exc:
        raise ConfigError(f"BACKUP_SCHEDULE: {exc}") from None


# --- pexbot backup run ---------------------------------------------------------------------


def run_backup_cli(settings: Settings) -> int:
    """Run the backup once now, post the notification if BACKUP_CHANNEL and SLACK_BOT_TOKEN are
    set, print one line; 0 on success, 1 if the backup or its notification failed."""
    configure_logging(settings.log_level)
    settings.backup()
    settings.pexip()
    database_url(settings.database_url)
    report, notified = asyncio.run(_cli_run(settings))
    print(_cli_line(report, notified, settings))
    return 0 if report.succeeded and notified is not False else 1


async def _cli_run(settings: Settings) -> tuple[BackupReport, bool | None]:
    history = BackupHistory(settings.database_url)
    try:
        return await run_and_notify(settings, history, trigger="cli")
    finally:
        history.close()


def _cli_line(report: BackupReport, notified: bool | None, settings: Settings) -> str:
    line = summary(report)
    if notified is False:
        line += f" The Slack notification to {settings.backup_channel} could not be posted."
    elif notified is None and settings.backup_channel:
        line += " (Not posted to Slack: SLACK_BOT_TOKEN is not set.)"
    return line


# --- pexbot clock --------------------------------------------------------------------------


def run_clock(settings: Settings, *, metrics_port: int | None = None) -> int:
    """`pexbot clock`: blocks until SIGTERM or SIGINT; 0 after a clean stop. With
    `metrics_port`, Prometheus metrics are served on that port meanwhile."""
    configure_logging(settings.log_level)
    clock_settings(settings)
    with serve_metrics(settings, metrics_port):
        return asyncio.run(serve_clock(settings))


def clock_settings(settings: Settings) -> BackupSettings:
    """What the clock needs, checked before it starts: ConfigError names what is missing."""
    backup = settings.backup()
    if not backup.channel:
        raise ConfigError("BACKUP_CHANNEL must be set for the clock: it gets the notifications")
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN must be set for the clock: it posts the notifications")
    settings.pexip()
    backup_trigger(backup)
    return backup


async def serve_clock(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """The clock until `stop` is set (by default: until SIGTERM or SIGINT).

    It acts only while it leads (`bot.coordination.leader`): with PostgreSQL any number of
    clocks may run, one acts and the others wait to take over; with SQLite the one clock leads.
    """
    backup = clock_settings(settings)
    warn_about_transport(settings.pexip())
    stop = stop or _stop_on_signals()
    leader = clock_leader(settings.database_url)
    try:
        while not stop.is_set():
            if not await _first(leader.lead(), stop):
                break
            log.info("this clock leads now (%s): it runs the scheduled jobs", leader.name)
            code = await _act(settings, backup, stop, leader)
            if code:
                return code
    finally:
        await leader.close()
    log.info("clock stopped")
    return 0


async def _act(
    settings: Settings, backup: BackupSettings, stop: asyncio.Event, leader: Leader
) -> int:
    """Run the scheduled jobs until `stop` is set (0) or the lead is lost (0, to wait again);
    1 when the job store cannot be used."""
    trigger, zone = backup_trigger(backup), ZoneInfo(backup.timezone)
    stores = {"default": _job_store(settings), **expiry_job_stores()}
    scheduler = AsyncIOScheduler(jobstores=stores, timezone=zone)
    scheduler.add_listener(_log_skipped, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    expiry = ApprovalExpiry(settings)
    try:
        scheduler.start(paused=True)
        _log_start(_ensure_job(scheduler, trigger), trigger, zone)
        schedule_health(scheduler, settings)
        schedule_expiry(scheduler, expiry)
    except SQLAlchemyError as exc:
        log.error("the clock cannot use DATABASE_URL for its job store: %s", exc)
        await _shut_down(scheduler)
        await expiry.close()
        return 1
    scheduler.resume()
    try:
        if not await _first(leader.lost(), stop):
            return 0
        log.warning("this clock lost the lead: it stops acting and waits to lead again")
        # a run under way goes on: its scheduled time is claimed, no other clock repeats it
        scheduler.shutdown(wait=False)
        return 0
    finally:
        await _shut_down(scheduler)
        await expiry.close()


async def _first(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Await `work` unless `stop` is set first: True if `work` finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopping):
            pending.cancel()
        await asyncio.gather(task, stopping, return_exceptions=True)
    return task.done() and not task.cancelled() and task.exception() is None


def _job_store(settings: Settings) -> SQLAlchemyJobStore:
    url = database_url(settings.database_url)
    ensure_sqlite_folder(url)
    return SQLAlchemyJobStore(engine=make_engine(url))


def _ensure_job(scheduler: AsyncIOScheduler, trigger: CronTrigger) -> Job:
    options = {
        "misfire_grace_time": int(MISFIRE_GRACE.total_seconds()),
        "coalesce": True,
        "max_instances": 1,
        "name": "nightly backup",
    }
    job: Job | None = scheduler.get_job(JOB_ID)
    if job is not None and repr(job.trigger) == repr(trigger):
        # keeps its next run time, a missed one included (and the job's new module name)
        return job.modify(func=JOB_FUNC, **options)
    if job is not None:
        log.info("BACKUP_SCHEDULE or BACKUP_TIMEZONE changed: rescheduling the backup")
    new: Job = scheduler.add_job(JOB_FUNC, trigger, id=JOB_ID, replace_existing=True, **options)
    return new


def _log_start(job: Job, trigger: CronTrigger, zone: ZoneInfo) -> None:
    now = datetime.now(zone)
    due: datetime | None = job.next_run_time
    if due is not None and due <= now:
        missed = now - due
        what = "running it now" if missed <= MISFIRE_GRACE else "too long ago to run now"
        log.warning(
            "the backup run of %s was missed while the clock was down (%s ago): %s",
            _when(due, zone),
            human_duration(missed),
            what,
        )
        due = trigger.get_next_fire_time(None, now)
    log.info("next backup run at %s", _when(due, zone) if due else "never (schedule ended)")


def _log_skipped(event: JobEvent) -> None:
    run_time = getattr(event, "scheduled_run_time", None)
    if event.job_id == HEALTH_JOB_ID:
        log.info("a health poll was skipped: the previous one is still running or was late")
        return
    if event.job_id == EXPIRY_JOB_ID:
        return  # the next round, seconds later, expires what this one would have
    if event.code == EVENT_JOB_MISSED:
        log.warning(
            "the backup run of %s was missed by more than %s and skipped; "
            "the next one follows the schedule",
            run_time,
            human_duration(MISFIRE_GRACE),
        )
    else:
        log.warning("the backup run of %s was skipped: the previous one is still running", run_time)


def _when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    name = local.tzname() or zone.key
    return f"{local:%Y-%m-%d %H:%M:%S} {name}" + (f" ({zone.key})" if name != zone.key else "")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _shut_down(scheduler: AsyncIOScheduler) -> None:
    """Stop the scheduler; a run in progress is cancelled and may record that before we exit."""
    if not scheduler.running:
        return
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
    running = [task for task in _running if not task.done()]
    if running:
        log.warning("stopping: the backup in progress is interrupted")
        await asyncio.wait(running, timeout=STOP_GRACE)
