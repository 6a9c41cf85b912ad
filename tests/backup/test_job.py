"""The backup job against the simulator: create → wait → download + checksum → prune.

Each story is what a platform admin would check afterwards: which file is where, what the
checksum file says, what is left on the node and in the download folder, and what the report
(the notification's content) says when a step fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.backup.files import is_backup_file, prune_folder, prune_plan
from bot.backup.history import BackupHistory
from bot.backup.job import DOWNLOAD_BROKE_OFF, run_backup
from bot.backup.notify import human_duration, human_size
from bot.backup.report import BackupReport
from bot.config import BackupSettings, PexipSettings
from bot.pexip.backups import list_backups
from bot.pexip.client import PexipClient
from bot.pexip.models import SystemBackup

PASSPHRASE = "pp-SECRET-4242"
BACKUP_DETAIL = "/api/admin/configuration/v1/system_backup/pexip_backup_"
CREATE = "/api/admin/command/v1/platform/backup_create/"
SIZE = 64 * 1024  # the simulator's default backup size


@pytest.fixture
def sim(simulator: Any) -> Any:
    simulator.control.settings(backup_delay=0.1)
    return simulator


@pytest.fixture
async def client(sim: Any) -> AsyncIterator[PexipClient]:
    async with PexipClient(
        PexipSettings(manager_url=sim.url, username=sim.username, password=SecretStr(sim.password))
    ) as pexip:
        yield pexip


@pytest.fixture
def history(tmp_path: Path) -> Iterator[BackupHistory]:
    store = BackupHistory(f"sqlite:///{tmp_path}/db/pexbot.db")
    yield store
    store.close()


def settings(tmp_path: Path | None, **changes: Any) -> BackupSettings:
    values: dict[str, Any] = {
        "passphrase": SecretStr(PASSPHRASE),
        "channel": "C0BACKUPS",
        "schedule": "0 2 * * *",
        "timezone": "Europe/London",
        "keep": 3,
        "download_dir": tmp_path / "backups" if tmp_path else None,
        "wait_seconds": 3.0,
    }
    return BackupSettings(**(values | changes))


async def node_files(client: PexipClient) -> list[str]:
    return [backup.filename for backup in await list_backups(client)]


def old_local_copies(folder: Path, count: int) -> list[Path]:
    """Earlier downloads, oldest first, each with its checksum; plus a file that is not ours."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text("not a backup")
    paths = []
    for day in range(count):
        path = folder / f"pexip_backup_mgr_36_0_26_01_{day + 10:02d}_02_00_00.tar.gpg"
        path.write_bytes(b"old")
        path.with_name(path.name + ".sha256").write_text("x  y\n")
        stamp = (datetime.now(UTC) - timedelta(days=count - day)).timestamp()
        os.utime(path, (stamp, stamp))
        paths.append(path)
    return paths


# --- the success path ----------------------------------------------------------------------


async def test_a_backup_is_made_downloaded_checksummed_and_old_ones_pruned(
    sim: Any, client: PexipClient, history: BackupHistory, tmp_path: Path
) -> None:
    before = await node_files(client)  # 4 seeded backups, newest first
    folder = tmp_path / "backups"
    local = old_local_copies(folder, 3)

    report = await run_backup(client, settings(tmp_path), history=history, trigger="cli")

    assert report.succeeded, report.reason
    assert report.failed_step is None and report.reason == ""
    assert report.filename not in before and report.filename is not None
    assert report.filename.startswith("pexip_backup_") and report.filename.endswith(".tar.gpg")
    assert report.size == SIZE
    # the file on disk is whole and its checksum file is what `sha256sum -c` reads
    copy = folder / report.filename
    assert report.stored_at is not None and report.stored_at.local_path == copy
    assert copy.stat().st_size == SIZE
    digest = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert report.sha256 == digest
    assert (folder / f"{report.filename}.sha256").read_text() == f"{digest}  {report.filename}\n"
    # the node keeps the newest 3: ours and the two most recent seeded ones
    assert await node_files(client) == [report.filename, *before[:2]]
    assert list(report.pruned_node) == list(reversed(before[2:]))
    # the folder keeps the newest 3 backup files; pruned ones lose their checksum too
    assert list(report.pruned_local) == [local[0].name]
    assert not local[0].exists() and not local[0].with_name(local[0].name + ".sha256").exists()
    assert local[1].exists() and local[2].exists() and (folder / "README.txt").exists()
    # the node got our passphrase with the create command
    creates = [
        c for c in sim.control.stats()["commands"] if c["command"] == "platform/backup_create"
    ]
    assert [c["body"]["passphrase"] for c in creates] == [PASSPHRASE]


async def test_a_backup_from_slack_deletes_nothing_whatever_backup_keep_says(
    client: PexipClient, history: BackupHistory, tmp_path: Path
) -> None:
    before = await node_files(client)
    for _ in range(3):
        report = await run_backup(
            client, settings(tmp_path, keep=1), history=history, trigger="manual"
        )
        assert report.succeeded and report.pruned_node == () and report.pruned_local == ()

    after = await node_files(client)
    assert set(before) <= set(after) and len(after) == len(before) + 3
    assert len([p for p in (tmp_path / "backups").iterdir() if p.name.endswith(".gpg")]) == 3


async def test_without_a_download_folder_the_backup_stays_on_the_node_only(
    client: PexipClient, history: BackupHistory
) -> None:
    report = await run_backup(client, settings(None, keep=10), history=history, trigger="manual")

    assert report.succeeded
    assert report.stored_at is not None and report.stored_at.local_path is None
    assert report.sha256 is None and report.pruned_node == () and report.pruned_local == ()
    assert report.filename in await node_files(client)


async def test_the_run_is_recorded_in_the_history(
    client: PexipClient, history: BackupHistory, tmp_path: Path
) -> None:
    report = await run_backup(
        client, settings(tmp_path), history=history, trigger="manual", requested_by="U0ADMIN01"
    )

    [run] = await history.recent()
    assert (run.trigger, run.outcome, run.requested_by) == ("manual", "success", "U0ADMIN01")
    assert (run.filename, run.size, run.sha256) == (report.filename, SIZE, report.sha256)
    assert run.started_at == report.started_at and run.finished_at == report.finished_at


async def test_a_late_scheduled_run_says_by_how_much(
    client: PexipClient, history: BackupHistory
) -> None:
    scheduled = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)

    report = await run_backup(
        client, settings(None), history=history, trigger="schedule", scheduled_for=scheduled
    )

    assert report.late_by is not None and timedelta(hours=3) <= report.late_by < timedelta(
        hours=3, minutes=1
    )
    assert report.scheduled_for == scheduled
    assert str(report.scheduled_for.tzinfo) == "Europe/London"


async def test_a_run_on_time_is_not_late(client: PexipClient, history: BackupHistory) -> None:
    scheduled = datetime.now(UTC) - timedelta(seconds=2)

    report = await run_backup(
        client, settings(None), history=history, trigger="schedule", scheduled_for=scheduled
    )

    assert report.late_by is None


async def test_a_file_someone_else_made_meanwhile_is_not_taken_for_ours(
    sim: Any, client: PexipClient, history: BackupHistory, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone else's backup finishes while we wait: ours is the newer one."""
    import asyncio

    others: list[str] = []

    async def sleep(seconds: float) -> None:
        if not others:
            earlier = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
            others.append(sim.control.add_backup(1000, date=earlier)["filename"])
        await asyncio.sleep(seconds)

    report = await run_backup(
        client, settings(None, keep=10), history=history, trigger="cli", sleep=sleep
    )

    assert report.succeeded and report.filename not in others
    assert report.size == SIZE
    assert "several new backup files appeared" in caplog.text


async def test_a_create_that_got_no_answer_still_succeeds_when_the_file_appears(
    sim: Any, history: BackupHistory
) -> None:
    sim.control.add_fault(method="POST", path=CREATE, latency=0.8, times=1)
    pexip = PexipSettings(
        manager_url=sim.url, username=sim.username, password=SecretStr(sim.password), timeout=0.4
    )
    async with PexipClient(pexip) as slow:
        report = await run_backup(slow, settings(None, keep=10), history=history, trigger="cli")

    assert report.succeeded, report.reason


# --- each failing step ---------------------------------------------------------------------


async def test_a_refused_create_fails_at_create_and_prunes_nothing(
    sim: Any, client: PexipClient, history: BackupHistory, tmp_path: Path
) -> None:
    before = await node_files(client)
    refusal = {"backup_create": {"passphrase": [f"Passphrase {PASSPHRASE} is too weak."]}}
    sim.control.add_fault(method="POST", path=CREATE, status=400, body=refusal)

    report = await run_backup(client, settings(tmp_path), history=history, trigger="cli")

    assert (report.outcome, report.failed_step) == ("failure", "create")
    assert (
        report.reason == "The management node refused it: passphrase: Passphrase *** is too weak."
    )
    assert report.filename is None and report.stored_at is None
    assert await node_files(client) == before
    assert report.pruned_node == () and report.pruned_local == ()
    [run] = await history.recent()
    assert (run.outcome, run.failed_step) == ("failure", "create")
    assert PASSPHRASE not in run.reason


async def test_a_file_that_never_appears_fails_at_wait(
    sim: Any, client: PexipClient, history: BackupHistory, tmp_path: Path
) -> None:
    sim.control.settings(backup_delay=30)
    before = await node_files(client)

    report = await run_backup(
        client, settings(tmp_path, wait_seconds=0.6), history=history, trigger="cli"
    )

    assert (report.outcome, report.failed_step) == ("failure", "wait")
    assert report.reason == (
        "No new backup file appeared on the management node within 0.6 seconds "
        "(BACKUP_WAIT_SECONDS)."
    )
    assert report.duration < timedelta(seconds=3)
    assert await node_files(client) == before  # nothing pruned
    listings = sim.control.stats()["requests"]["GET /api/admin/configuration/v1/system_backup/"]
    assert 3 <= listings <= 6  # polled with backoff, not hammered


async def test_a_truncated_download_fails_at_download_and_leaves_no_partial_file(
    sim: Any, client: PexipClient, history: BackupHistory, tmp_path: Path
) -> None:
    before = await node_files(client)
    sim.control.add_fault(method="GET", path=BACKUP_DETAIL, drop_mid_response=True)

    report = await run_backup(client, settings(tmp_path), history=history, trigger="cli")

    assert (report.outcome, report.failed_step) == ("failure", "download")
    assert report.reason == DOWNLOAD_BROKE_OFF
    assert report.filename is not None and report.filename not in before
    assert report.stored_at is not None and report.stored_at.local_path is None
    assert list((tmp_path / "backups").iterdir()) == []
    assert len(await node_files(client)) == len(before) + 1  # nothing pruned


async def test_a_download_folder_that_cannot_be_written_fails_at_download(
    client: PexipClient, history: BackupHistory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    report = await run_backup(
        client, settings(None, download_dir=blocker), history=history, trigger="cli"
    )

    assert (report.outcome, report.failed_step) == ("failure", "download")
    assert report.reason == f"pexbot could not write {blocker}: File exists."


async def test_a_refused_delete_fails_at_prune_but_the_backup_stands(
    sim: Any, client: PexipClient, history: BackupHistory
) -> None:
    sim.control.add_fault(method="DELETE", path=BACKUP_DETAIL, status=403)

    report = await run_backup(client, settings(None, keep=1), history=history, trigger="cli")

    assert (report.outcome, report.failed_step) == ("failure", "prune")
    assert "refused pexbot's API account" in report.reason
    assert report.filename in await node_files(client) and report.size == SIZE


# --- retention rules -----------------------------------------------------------------------


def backup(name: str, day: int | None) -> SystemBackup:
    date = datetime(2026, 5, day, 2, tzinfo=UTC) if day else None
    return SystemBackup(filename=name, date=date)


def test_only_backup_files_are_pruned_oldest_first_never_ours_or_undated() -> None:
    listed = [
        backup("pexip_backup_a_26_05_01.tar.gpg", 1),
        backup("pexip_backup_b_26_05_02.tar.gpg", 2),
        backup("manual-copy.tar.gpg", 3),
        backup("notes.txt", 1),
        backup("pexip_backup_undated.tar.gpg", None),
        backup("pexip_backup_c_26_05_04.gpg", 4),
        backup("pexip_backup_ours.tar.gpg", 5),
    ]

    plan = prune_plan(listed, keep=2, ours="pexip_backup_ours.tar.gpg")

    assert [b.filename for b in plan] == [
        "pexip_backup_a_26_05_01.tar.gpg",
        "pexip_backup_b_26_05_02.tar.gpg",
        "manual-copy.tar.gpg",
    ]
    assert prune_plan(listed, keep=1, ours="pexip_backup_c_26_05_04.gpg")[-1].filename == (
        "manual-copy.tar.gpg"
    )


def test_what_counts_as_a_backup_file() -> None:
    assert is_backup_file("pexip_backup_mgr_36_1_26_05_01_02_00_00.tar.gpg")
    assert is_backup_file("pexip_backup_mgr_11_26902.0.0_16_01_28_15_36_16.gpg")
    assert is_backup_file("weekly.tar.gpg")
    assert not is_backup_file("pexip_backup_notes.txt")
    assert not is_backup_file("x.tar.gpg.sha256")


def test_the_download_folder_keeps_the_newest_and_nothing_else_is_touched(tmp_path: Path) -> None:
    files = old_local_copies(tmp_path, 4)

    assert prune_folder(tmp_path, 2) == [files[0].name, files[1].name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["README.txt"] + [n for p in files[2:] for n in (p.name, p.name + ".sha256")]
    )


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (65536, "65.5 kB"),
        (9369536, "9.4 MB"),
        (2**31, "2.1 GB"),
    ],
)
def test_sizes_read_like_a_file_manager(size: int, words: str) -> None:
    assert human_size(size) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.42, "0.4 s"), (14, "14 s"), (125, "2 min 5 s"), (600, "10 min"), (11040, "3 h 4 min")],
)
def test_durations_read_naturally(seconds: float, words: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == words


# --- the passphrase ------------------------------------------------------------------------


async def test_the_passphrase_is_in_no_log_report_or_history_row(
    sim: Any,
    client: PexipClient,
    history: BackupHistory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reports: list[BackupReport] = [
        await run_backup(client, settings(tmp_path), history=history, trigger="cli")
    ]
    sim.control.add_fault(
        method="POST", path=CREATE, status=400, body={"error": f"bad passphrase {PASSPHRASE}"}
    )
    reports.append(await run_backup(client, settings(tmp_path), history=history, trigger="cli"))

    assert [r.outcome for r in reports] == ["success", "failure"]
    assert PASSPHRASE not in caplog.text
    assert all(PASSPHRASE not in repr(report) for report in reports)
    assert all(PASSPHRASE not in repr(run) for run in await history.recent())
