"""The backup job: create → wait → download + checksum → prune, summed up in one report.

`run_backup` is the one implementation behind the clock, `pexbot backup run` and
`/pexip backup now`. It never raises for a node or disk failure: each becomes a failure report
naming the step, worded by `bot.messages`. Pruning happens only once everything before it worked,
and only for the nightly job (the clock, `pexbot backup run`): a `backup now` never deletes.
The passphrase goes to the node and nowhere else: every reason is scrubbed of it.

Which file is ours: the names listed just before `backup_create` are remembered and the new file
is one not among them (the newest if several appear because someone else made one meanwhile).
Runs in one process take turns, so two of ours cannot take each other's file.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.backup.files import prune_folder, prune_plan, write_checksum
from bot.backup.report import BackupReport, Step, StoredAt, Trigger
from bot.config import BackupSettings
from bot.messages import internal_error, pexip_sentence
from bot.pexip import errors
from bot.pexip.backups import DownloadedFile, delete_backup, download_backup, list_backups
from bot.pexip.client import PexipClient
from bot.pexip.commands import BackupCreate
from bot.pexip.models import SystemBackup
from bot.store.audit import Scrubber, new_correlation_id

if TYPE_CHECKING:
    from bot.backup.history import BackupHistory

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]

LATE_AFTER = timedelta(minutes=1)
"""A scheduled run starting later than this after its time is reported as late."""
DOWNLOAD_BROKE_OFF = (
    "The download from the management node broke off, so no copy was kept; "
    "the backup file is still on the node."
)
FIRST_POLL, POLL_GROWTH, MAX_POLL = 0.25, 1.5, 15.0
"""Seconds between listings while waiting for the new file: 0.25 s, growing to 15 s."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class StepFailed(Exception):
    """A step could not be done; `reason` is the sentence shown to people."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step: Step = step
        self.reason = reason


@dataclass
class _Run:
    """One run's progress, frozen into a BackupReport at the end."""

    trigger: Trigger
    started_at: datetime
    node: str
    scheduled_for: datetime | None
    requested_by: str | None
    step: Step = "create"
    create_unanswered: bool = False
    backup: SystemBackup | None = None
    downloaded: DownloadedFile | None = None
    pruned_node: list[str] = field(default_factory=list)
    pruned_local: list[str] = field(default_factory=list)

    def report(self, finished_at: datetime, failed: StepFailed | None) -> BackupReport:
        backup, local = self.backup, self.downloaded
        return BackupReport(
            outcome="failure" if failed else "success",
            trigger=self.trigger,
            started_at=self.started_at,
            finished_at=finished_at,
            failed_step=failed.step if failed else None,
            reason=failed.reason if failed else "",
            filename=backup.filename if backup else None,
            size=local.size if local else backup.size if backup else None,
            sha256=local.sha256 if local else None,
            stored_at=StoredAt(self.node, local.path if local else None) if backup else None,
            pruned_node=tuple(self.pruned_node),
            pruned_local=tuple(self.pruned_local),
            scheduled_for=self.scheduled_for,
            late_by=_lateness(self.scheduled_for, self.started_at),
            requested_by=self.requested_by,
        )


async def run_backup(
    client: PexipClient,
    settings: BackupSettings,
    *,
    history: BackupHistory,
    trigger: Trigger,
    scheduled_for: datetime | None = None,
    requested_by: str | None = None,
    now: Clock = utc_now,
    sleep: Sleep = asyncio.sleep,
) -> BackupReport:
    """Make a backup now and report; `scheduled_for` is the schedule's time (late if missed)."""
    async with _turn():
        zone = ZoneInfo(settings.timezone)
        run = _Run(
            trigger=trigger,
            started_at=now(),
            node=_host(client.base_url),
            scheduled_for=scheduled_for.astimezone(zone) if scheduled_for else None,
            requested_by=requested_by,
        )
        run_id = await history.start(run.trigger, run.started_at, scheduled_for, requested_by)
        log.info("backup started (%s%s)", trigger, f" by {requested_by}" if requested_by else "")
        try:
            failed = await _attempt(client, settings, run, now, sleep)
        except asyncio.CancelledError:
            interrupted = StepFailed(run.step, "The run was interrupted: pexbot was stopped.")
            await history.finish(run_id, run.report(now(), interrupted))
            raise
        report = run.report(now(), _scrubbed(failed, settings))
        await history.finish(run_id, report)
        _log_outcome(report)
        return report


async def _attempt(
    client: PexipClient, settings: BackupSettings, run: _Run, now: Clock, sleep: Sleep
) -> StepFailed | None:
    """The steps in order; the first failure, or None when all of them worked."""
    try:
        before = await _create(client, settings, run)
        run.step = "wait"
        run.backup = await _wait_for_new_file(
            client, before, settings.wait_seconds, run, now, sleep
        )
        if settings.download_dir is not None:
            run.step = "download"
            run.downloaded = await _download(client, run.backup, settings.download_dir)
        if run.trigger != "manual":  # `backup now` from Slack never deletes (INTERFACE §2)
            run.step = "prune"
            await _prune(client, settings, run)
    except StepFailed as failed:
        return failed
    except errors.PexipError as exc:
        return StepFailed(run.step, pexip_sentence(exc))
    except OSError as exc:
        return StepFailed(run.step, _disk_sentence(exc))
    except Exception:  # a bug must still end in a report, with the traceback in the log
        reference = new_correlation_id()
        log.exception("backup step %s failed unexpectedly (ref %s)", run.step, reference)
        return StepFailed(run.step, internal_error(reference))
    return None


# --- the steps -----------------------------------------------------------------------------


async def _create(client: PexipClient, settings: BackupSettings, run: _Run) -> frozenset[str]:
    """Ask the node for a backup; returns the file names that existed before."""
    before = frozenset(backup.filename for backup in await list_backups(client))
    try:
        await client.command(BackupCreate(passphrase=settings.passphrase))
    except errors.NoAnswer as exc:  # it may have started: the file would tell
        log.warning("%s; waiting for the file in case the node started it", exc.message)
        run.create_unanswered = True
    return before


async def _wait_for_new_file(
    client: PexipClient,
    before: frozenset[str],
    wait_seconds: float,
    run: _Run,
    now: Clock,
    sleep: Sleep,
) -> SystemBackup:
    """Poll the listing with growing pauses until a file not in `before` shows up."""
    deadline = now() + timedelta(seconds=wait_seconds)
    pause, trouble = FIRST_POLL, None
    while True:
        await sleep(max(0.0, min(pause, (deadline - now()).total_seconds())))
        new, trouble = await _new_files(client, before)
        if new:
            return _ours(new)
        if now() >= deadline:
            raise StepFailed("wait", _never_appeared(wait_seconds, run, trouble))
        pause = min(pause * POLL_GROWTH, MAX_POLL)


async def _new_files(
    client: PexipClient, before: frozenset[str]
) -> tuple[list[SystemBackup], errors.Unavailable | None]:
    """Files not in `before`, newest first; a passing outage is noted, not fatal."""
    try:
        listed = await list_backups(client)
    except errors.Unavailable as exc:
        log.warning("waiting for the backup file: %s; trying again", exc.message)
        return [], exc
    return [backup for backup in listed if backup.filename not in before], None


def _ours(new: list[SystemBackup]) -> SystemBackup:
    if len(new) > 1:
        others = ", ".join(backup.filename for backup in new[1:])
        log.warning("several new backup files appeared; taking the newest (others: %s)", others)
    return new[0]


def _never_appeared(wait_seconds: float, run: _Run, trouble: errors.Unavailable | None) -> str:
    sentence = (
        "No new backup file appeared on the management node within "
        f"{wait_seconds:g} seconds (BACKUP_WAIT_SECONDS)."
    )
    if run.create_unanswered:
        sentence += " The node did not answer the request to create it."
    if trouble is not None:
        sentence += f" The last listing failed: {pexip_sentence(trouble)}"
    return sentence


async def _download(client: PexipClient, backup: SystemBackup, folder: Path) -> DownloadedFile:
    """Stream the file into `folder`, check its size against the listing, write its SHA-256."""
    target = await asyncio.to_thread(_prepare_target, folder, backup.filename)
    try:
        got = await download_backup(client, backup.filename, target, sha256=backup.sha256sum)
    except errors.NoAnswer as exc:  # a read, not a change: "may or may not have" does not apply
        log.warning("%s", exc.message)
        raise StepFailed("download", DOWNLOAD_BROKE_OFF) from exc
    if backup.size and got.size != backup.size:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise StepFailed(
            "download",
            f"The downloaded file has {got.size} bytes but the node listed {backup.size}, "
            "so it was deleted.",
        )
    await asyncio.to_thread(write_checksum, got)
    return got


def _prepare_target(folder: Path, filename: str) -> Path:
    if Path(filename).name != filename or filename in ("", ".", ".."):
        raise StepFailed(
            "download", f"The node named the file {filename!r}, which is not a plain file name."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder / filename


async def _prune(client: PexipClient, settings: BackupSettings, run: _Run) -> None:
    assert run.backup is not None
    await _prune_node(client, settings.keep, run.backup.filename, run.pruned_node)
    if settings.download_dir is not None:
        run.pruned_local = await asyncio.to_thread(
            prune_folder, settings.download_dir, settings.keep
        )


async def _prune_node(client: PexipClient, keep: int, ours: str, pruned: list[str]) -> None:
    """Delete the node's oldest backup files beyond `keep`, appending each name to `pruned`."""
    for backup in prune_plan(await list_backups(client), keep, ours):
        try:
            await delete_backup(client, backup.filename)
        except errors.NotFound:
            log.info("backup %s was already gone", backup.filename)
            continue
        pruned.append(backup.filename)


# --- wording and helpers -------------------------------------------------------------------


def _disk_sentence(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"pexbot could not write{where}: {exc.strerror or exc}."


def _scrubbed(failed: StepFailed | None, settings: BackupSettings) -> StepFailed | None:
    if failed is None:
        return None
    return StepFailed(failed.step, Scrubber([settings.passphrase]).text(failed.reason))


def _lateness(scheduled_for: datetime | None, started_at: datetime) -> timedelta | None:
    if scheduled_for is None:
        return None
    late = started_at - scheduled_for
    return late if late > LATE_AFTER else None


def _host(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.hostname is None:
        return base_url
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _log_outcome(report: BackupReport) -> None:
    took = report.duration.total_seconds()
    if report.succeeded:
        log.info("backup succeeded: %s (%s bytes) in %.1f s", report.filename, report.size, took)
    else:
        log.error(
            "backup failed at step %s after %.1f s: %s", report.failed_step, took, report.reason
        )


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _turn() -> asyncio.Lock:
    """This event loop's lock: runs in one process take turns (see the module docstring)."""
    return _turns.setdefault(asyncio.get_running_loop(), asyncio.Lock())
