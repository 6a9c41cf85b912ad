"""Stories of two-person approval (INTERFACE §5 `approval`): a destructive command waits in the
channel until a different person with an approver role and the command's permission approves
it; every other click changes nothing, and what reached the node says so."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from bot.store.audit_cli import run_audit_cli
from tests.e2e.conftest import (
    Seen,
    audit_entries,
    audited,
    backup_files,
    node_command_names,
    wait_until,
)
from tests.fixtures.bot import ADMIN, MODERATOR, POLICY, SCOPED, VIEWER, Bot

ADMIN2 = "U0ADMIN02"
APPROVAL = """\
approval:
  end: {approvers: [admin], expires: 10m}
  disconnect: {approvers: [admin, moderator]}
  restore: {approvers: [admin]}
  layout: {approvers: [vmr-moderator]}
"""
POLICY_WITH_APPROVAL = POLICY.replace("admin: [U0ADMIN01]", f"admin: [U0ADMIN01, {ADMIN2}]") + (
    APPROVAL
)


def _request(seen: Seen, fragment: str) -> Any:
    """The request as posted in the channel, with its Approve and Reject buttons."""
    message = seen.public(fragment)
    assert seen.labels(message) == ["Approve", "Reject"]
    return message


def _ask_to_end(bot: Bot, seen: Seen, conference: str = "VMR_2") -> Any:
    bot.slack.command(f"end {conference}", user=MODERATOR)
    confirmation = seen.private(f"End {conference} for")
    bot.slack.click(seen.button(confirmation, f"End {conference}"), user=MODERATOR)
    return _request(seen, f"<@{MODERATOR}> asks to end {conference}")


def _ref(request: Any) -> str:
    return str(request.blocks[-1]["elements"][0]["value"])


def test_end_asks_to_confirm_then_for_approval_and_runs_once_an_admin_approves(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=POLICY_WITH_APPROVAL)
    request = _ask_to_end(bot, seen)
    ref = _ref(request)
    assert "approval of someone else with the `admin` role" in request.text
    seen.deleted()  # the confirmation is taken away
    assert node_command_names(simulator) == []
    pending = audited(bot, command="end", outcome="pending", user=MODERATOR)
    assert pending.correlation_id == ref

    bot.slack.click(seen.button(request, "Approve"), user=ADMIN)

    seen.public(f"<@{MODERATOR}> ended VMR_2. (approved by <@{ADMIN}>)")
    seen.update(f"Approved by <@{ADMIN}>")
    assert node_command_names(simulator) == ["conference/disconnect"]
    done = audited(bot, command="end", outcome="success")
    assert (done.correlation_id, done.user, done.approved_by) == (ref, MODERATOR, ADMIN)

    bot.slack.click(seen.button(request, "Approve"), user=ADMIN2)  # a second click

    seen.private(f"already approved by <@{ADMIN}>")
    assert node_command_names(simulator) == ["conference/disconnect"]


def test_the_requester_and_people_without_an_approver_role_cannot_approve(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=POLICY_WITH_APPROVAL)
    request = _ask_to_end(bot, seen)

    bot.slack.click(seen.button(request, "Approve"), user=MODERATOR)
    seen.private("you asked for this yourself, so someone else with the `admin` role")
    bot.slack.click(seen.button(request, "Reject"), user=MODERATOR)
    seen.private("someone else with the `admin` role may reject it, or it expires at")
    bot.slack.click(seen.button(request, "Approve"), user=VIEWER)
    seen.private("approving or rejecting this request needs the `admin` role")

    assert node_command_names(simulator) == []
    assert [m for m in seen.in_channel() if m.kind == "update"] == []  # still pending
    denied = [e for e in audit_entries(bot) if e.outcome.value == "denied"]
    assert {e.user for e in denied} == {MODERATOR, VIEWER}
    assert {e.correlation_id for e in denied} == {_ref(request)}


def test_a_reject_leaves_the_node_untouched_and_says_who_rejected(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=POLICY_WITH_APPROVAL)
    bot.slack.command("disconnect Bob", user=MODERATOR)  # approvers: admin or moderator
    request = _request(seen, f"<@{MODERATOR}> asks to disconnect Bob Smith in VMR_1")

    bot.slack.click(seen.button(request, "Reject"), user=ADMIN)

    seen.update(f"Rejected by <@{ADMIN}>: nothing was done")
    rejected = audited(bot, command="disconnect", outcome="rejected")
    assert (rejected.correlation_id, rejected.user) == (_ref(request), MODERATOR)
    bot.slack.click(seen.button(request, "Approve"), user=ADMIN2)
    seen.private(f"this request was rejected by <@{ADMIN}>")
    assert node_command_names(simulator) == []


def test_an_approver_whose_scope_does_not_cover_the_conference_cannot_approve(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=POLICY_WITH_APPROVAL)  # layout: approvers [vmr-moderator] (VMR_*)
    bot.slack.command("layout Board_Room 1:7", user=MODERATOR)
    outside = _request(seen, "asks to change the layout of Board_Room to 1:7")

    bot.slack.click(seen.button(outside, "Approve"), user=SCOPED)

    seen.private("your `layout` permission does not cover conference Board_Room")
    assert node_command_names(simulator) == []

    bot.slack.command("layout VMR_1 1:7", user=MODERATOR)
    inside = _request(seen, "asks to change the layout of VMR_1 to 1:7")
    bot.slack.click(seen.button(inside, "Approve"), user=SCOPED)

    seen.public(f"changed the layout of VMR_1 to 1:7. (approved by <@{SCOPED}>)")
    assert node_command_names(simulator) == ["conference/transform_layout"]


def test_an_expired_request_says_so_without_a_click_and_cannot_be_approved(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    short = POLICY_WITH_APPROVAL.replace("expires: 10m", "expires: 1s")
    bot = bot_with(policy=short)
    request = _ask_to_end(bot, seen)

    seen.update("Expired at", timeout=8)  # the SQLite serve's own round, nobody clicked
    expired = audited(bot, command="end", outcome="expired")
    assert expired.correlation_id == _ref(request)

    bot.slack.click(seen.button(request, "Approve"), user=ADMIN)
    seen.private("this request expired at")
    assert node_command_names(simulator) == []


def test_two_approvals_at_the_same_moment_on_two_processes_make_one_node_call(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    """The request asked through one process, approved through it and another one sharing
    DATABASE_URL (as after a restart, or behind a load balancer), at the same moment."""
    first = bot_with(policy=POLICY_WITH_APPROVAL)
    second = bot_with(policy=POLICY_WITH_APPROVAL)
    request = _ask_to_end(first, seen)
    approve = seen.button(request, "Approve")
    start = threading.Barrier(4)

    def click(bot: Bot, user: str) -> None:
        start.wait()
        bot.slack.click(approve, user=user)

    clicks = [
        threading.Thread(target=click, args=(bot, user))
        for bot, user in ((first, ADMIN), (second, ADMIN2), (second, ADMIN), (first, ADMIN2))
    ]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()

    seen.public(f"<@{MODERATOR}> ended VMR_2.")
    wait_until(
        lambda: (
            len([m for m in seen.everything() if "already approved by" in m.shown]) == 3 or None
        ),
        5,
        "three clicks told it was approved already",
    )
    time.sleep(0.3)
    assert node_command_names(simulator) == ["conference/disconnect"]


def test_restore_asks_to_confirm_then_waits_for_another_admin(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=POLICY_WITH_APPROVAL)
    filename = backup_files(simulator)[0]["filename"]
    bot.slack.command(f"backup restore {filename}", user=ADMIN)
    confirmation = seen.private("Restore the management node from")
    bot.slack.click(seen.button(confirmation, "Restore"), user=ADMIN)
    request = _request(seen, f"<@{ADMIN}> asks to restore the management node from")
    assert node_command_names(simulator) == []

    bot.slack.click(seen.button(request, "Approve"), user=ADMIN)
    seen.private("you asked for this yourself")
    bot.slack.click(seen.button(request, "Approve"), user=ADMIN2)

    seen.public(f"restored the management node from {filename}. (approved by <@{ADMIN2}>)")
    assert node_command_names(simulator) == ["platform/backup_restore"]


def test_pexbot_audit_shows_pending_and_approved_by_under_one_ref(
    bot_with: Callable[..., Bot], seen: Seen
) -> None:
    bot = bot_with(policy=POLICY_WITH_APPROVAL)
    request = _ask_to_end(bot, seen)
    bot.slack.click(seen.button(request, "Approve"), user=ADMIN)
    audited(bot, command="end", outcome="success")

    out = io.StringIO()
    assert (
        run_audit_cli(
            bot.settings.database_url, as_json=True, limit=10, since=None, console=Console(file=out)
        )
        == 0
    )
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [row for row in rows if row["ref"] == _ref(request)]
    assert [(row["outcome"], row["approved_by"]) for row in mine] == [
        ("success", ADMIN),
        ("pending", None),
    ]
    table = io.StringIO()
    run_audit_cli(
        bot.settings.database_url,
        as_json=False,
        limit=10,
        since=None,
        console=Console(file=table, width=250),
    )
    assert "Approved by" in table.getvalue() and "pending" in table.getvalue()
