"""Stories of administrators taking, listing and restoring management-node backups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import (
    Seen,
    audited,
    backup_files,
    node_command_names,
    node_commands,
    wait_until,
)
from tests.fixtures.bot import ADMIN, MODERATOR, VIEWER, Bot

PASSPHRASE = "pexbot-demo"  # BACKUP_PASSPHRASE in the bot fixture, the seed backups' passphrase


def _current_and_old(simulator: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    files = backup_files(simulator)
    current = next(f for f in files if f["version"] == "36")
    old = next(f for f in files if f["version"] == "35")
    return current, old


def test_backup_list_shows_the_node_files_and_the_run_history_privately(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(backup_delay=0.1)
    bot.slack.command("backup now", user=ADMIN)
    seen.public("succeeded", timeout=8)

    bot.slack.command("backup list", user=ADMIN)

    listing = seen.private("*Backup files on the management node* (newest first)")
    assert "version 35 (build 80180.0.0) · 65.5 kB" in listing.text
    assert listing.text.count("version 36 (build 82470.0.0)") == 4  # three nightly + ours
    assert "*Recent backup runs*\n• " in listing.text
    assert f"by <@{ADMIN}>: success, `pexip_backup_pexmgr_36_" in listing.text


def test_backup_list_before_any_run(bot: Bot, seen: Seen) -> None:
    bot.slack.command("backup list", user=ADMIN)

    listing = seen.private("*Backup files on the management node*")
    assert "No runs recorded yet." in listing.text
    assert seen.in_channel() == []


def test_restore_asks_first_naming_the_file_date_version_and_size_then_restores(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    current, _ = _current_and_old(simulator)
    filename = current["filename"]

    bot.slack.command(f"backup restore {filename}", user=ADMIN)

    question = seen.private(f"Restore the management node from `{filename}`")
    taken = current["date"][:10]
    assert f"{taken} 02:00 UTC · version 36 (build 82470.0.0) · 65.5 kB" in question.text
    assert node_commands(simulator) == []

    bot.slack.click(seen.button(question, "Restore"), user=ADMIN)

    seen.public(f"<@{ADMIN}> restored the management node from {filename}.")
    seen.deleted()
    restored = node_commands(simulator, "platform/backup_restore")
    assert len(restored) == 1
    assert restored[0]["passphrase"] == PASSPHRASE
    assert restored[0]["package"]["size"] == current["size"]
    audited(bot, user=ADMIN, command="backup", target=filename, outcome="success")


def test_a_backup_from_another_version_is_refused_and_nothing_is_restored(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    _, old = _current_and_old(simulator)

    bot.slack.command(f"backup restore {old['filename']}", user=ADMIN)

    refusal = seen.private(f"`{old['filename']}` was taken on version 35 (build 80180.0.0)")
    assert "the node runs version 36 (build 82470.0.0)" in refusal.text
    assert "Pexip only restores a backup onto the version it was taken on" in refusal.text
    assert node_commands(simulator) == []
    audited(bot, user=ADMIN, command="backup", outcome="invalid")


def test_restoring_a_file_the_node_does_not_have_points_to_backup_list(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("backup restore nosuch.tar.gpg", user=ADMIN)

    refusal = seen.private("No backup file named nosuch.tar.gpg on the management node")
    assert "`/pexip backup list`" in refusal.text
    assert "conferences" not in refusal.text
    assert node_commands(simulator) == []


def test_backup_now_reports_to_the_channel(bot: Bot, seen: Seen, simulator: Any) -> None:
    simulator.control.settings(backup_delay=0.1)
    before = {f["filename"] for f in backup_files(simulator)}

    bot.slack.command("backup now", user=ADMIN)

    seen.public(f"<@{ADMIN}> started a backup of the management node.")
    report = seen.public(f"Backup requested by <@{ADMIN}> succeeded", timeout=8)
    new = {f["filename"] for f in backup_files(simulator)} - before
    assert len(new) == 1
    assert new.pop() in report.text
    assert node_command_names(simulator) == ["platform/backup_create"]
    assert node_commands(simulator)[0] == {"passphrase": PASSPHRASE}
    audited(bot, user=ADMIN, command="backup", outcome="success")


def test_repeated_backups_from_slack_delete_nothing(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(BACKUP_KEEP="1", BACKUP_NOW_COOLDOWN="0")
    simulator.control.settings(backup_delay=0.05)
    before = {f["filename"] for f in backup_files(simulator)}
    assert len(before) > 1  # more than BACKUP_KEEP already

    for round_ in range(1, 4):
        bot.slack.command("backup now", user=ADMIN)
        wait_until(lambda n=round_: _reports(seen) == n, 8, f"backup {round_}")

    after = {f["filename"] for f in backup_files(simulator)}
    assert before <= after and len(after) == len(before) + 3
    assert "backup_delete" not in str(simulator.control.stats())
    assert all(
        "Nothing was pruned: old backups are pruned only by the nightly job." in m.text
        for m in seen.in_channel()
        if "succeeded" in m.text
    )


def _reports(seen: Seen) -> int:
    return len([m for m in seen.in_channel() if "succeeded" in m.text])


def test_backup_now_is_refused_during_the_cooldown_saying_when_it_is_allowed(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(backup_delay=0.05)
    bot.slack.command("backup now", user=ADMIN)
    seen.public("succeeded", timeout=8)
    simulator.control.reset_stats()

    bot.slack.command("backup now", user=ADMIN)

    refused = seen.private("another is allowed from")
    assert "(BACKUP_NOW_COOLDOWN)" in refused.text
    assert len([m for m in seen.in_channel() if "started a backup" in m.text]) == 1
    assert simulator.control.stats()["requests_total"] == 0
    audited(bot, user=ADMIN, command="backup", outcome="invalid")


def test_a_second_backup_now_while_one_runs_is_refused_even_without_cooldown(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(BACKUP_NOW_COOLDOWN="0")
    simulator.control.settings(backup_delay=1.0)
    bot.slack.command("backup now", user=ADMIN)
    seen.public("started a backup")

    bot.slack.command("backup now", user=ADMIN)

    seen.private("is running now; wait for its report")
    seen.public("succeeded", timeout=8)
    assert node_command_names(simulator) == ["platform/backup_create"]


def test_a_backup_that_fails_is_reported_in_the_channel_with_a_retry(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(backup_delay=0.1)
    simulator.control.add_fault(
        path="/api/admin/command/v1/platform/backup_create/", status=400, times=1
    )

    bot.slack.command("backup now", user=ADMIN)

    report = seen.public(f"Backup requested by <@{ADMIN}> failed", timeout=8)
    assert seen.labels(report) == ["Retry now"]
    assert not [m for m in seen.everything() if "something went wrong" in m.text]
    audited(bot, user=ADMIN, command="backup", outcome="error")

    bot.slack.click(seen.button(report, "Retry now"), user=ADMIN)
    seen.public(f"Backup requested by <@{ADMIN}> succeeded", timeout=8)


def test_backups_need_their_permissions(bot: Bot, seen: Seen, simulator: Any) -> None:
    simulator.control.reset_stats()

    bot.slack.command("backup now", user=VIEWER)
    seen.private("you need the `backup` permission")
    bot.slack.command("backup list", user=MODERATOR)
    seen.private("you need the `backup` permission")
    bot.slack.command("backup restore anything.tar.gpg", user=MODERATOR)
    seen.private("you need the `restore` permission")

    assert simulator.control.stats()["requests_total"] == 0
    assert seen.in_channel() == []
    audited(bot, user=VIEWER, command="backup", outcome="denied")
