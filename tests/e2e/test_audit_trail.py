"""Every attempt leaves a trace in the audit log, and no secret ever leaves the bot."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.sandbox.serve import BackgroundServer
from bot.sandbox.simulator import SimulatorControl, create_app
from tests.e2e.conftest import (
    Seen,
    audit_entries,
    audited,
    backup_files,
    node_commands,
    wait_until,
)
from tests.fixtures.bot import ADMIN, CHANNEL, MODERATOR, SIGNING_SECRET, VIEWER, Bot
from tests.fixtures.simulator import SimulatorHandle

AUDIT_CHANNEL = "C0AUDIT01"
PEXIP_USER, PEXIP_PASSWORD = "pexbot-api", "Pexip-pw-9c41e2"
PASSPHRASE = "Backup-phrase-51d7aa"


def test_a_success_is_audited_with_who_where_what_and_on_whom(bot: Bot, seen: Seen) -> None:
    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)
    seen.public("muted Alice Parkes in VMR_1")

    audited(
        bot,
        user=MODERATOR,
        channel=CHANNEL,
        command="mute",
        target="Alice Parkes (VMR_1)",
        outcome="success",
    )


def test_a_denial_is_audited_with_the_missing_permission(bot: Bot, seen: Seen) -> None:
    bot.slack.command('mute "Alice Parkes"', user=VIEWER)
    seen.private("Not allowed")

    entry = audited(bot, user=VIEWER, channel=CHANNEL, command="mute", outcome="denied")
    assert entry.detail == "you need the `mute` permission"


def test_bad_input_is_audited_as_invalid(bot: Bot, seen: Seen) -> None:
    bot.slack.command("dial meet@example.com bob@example.com node=conf.example.com", user=ADMIN)
    seen.private("must be an IP address")
    bot.slack.command("lock", user=ADMIN)
    seen.private("`lock` needs a conference")

    dial = audited(bot, user=ADMIN, command="dial", outcome="invalid")
    assert "must be an IP address" in dial.detail
    audited(bot, user=ADMIN, command="lock", outcome="invalid", target="lock")


def test_a_refusal_by_the_node_is_audited_as_an_error(bot: Bot, seen: Seen, simulator: Any) -> None:
    simulator.control.add_fault(path="/api/admin/command/v1/conference/lock/", status=400)

    bot.slack.command("lock VMR_2", user=MODERATOR)
    seen.public(f"<@{MODERATOR}> tried to lock VMR_2, but it did not happen.")

    audited(bot, user=MODERATOR, command="lock", target="VMR_2", outcome="error")


def test_a_confirmation_is_audited_once_it_is_acted_on(bot: Bot, seen: Seen) -> None:
    bot.slack.command("end VMR_2", user=ADMIN)
    question = seen.private("End VMR_2 for 2 participants?")
    assert [e.command for e in audit_entries(bot)] == []  # asking is not acting

    bot.slack.click(seen.button(question, "End VMR_2"), user=ADMIN)

    seen.public(f"<@{ADMIN}> ended VMR_2.")
    audited(bot, user=ADMIN, command="end", target="VMR_2", outcome="success")


def test_every_attempt_is_also_posted_to_the_audit_channel(
    bot_with: Callable[..., Bot], seen: Seen
) -> None:
    bot = bot_with(AUDIT_CHANNEL=AUDIT_CHANNEL)

    bot.slack.command('mute "Alice Parkes"', user=VIEWER)
    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)

    seen.public(f"denied: {VIEWER} mute", channel=AUDIT_CHANNEL)
    seen.public(
        f"success: {MODERATOR} mute Alice Parkes (VMR_1) in {CHANNEL}", channel=AUDIT_CHANNEL
    )


@pytest.fixture
def private_simulator() -> Iterator[SimulatorHandle]:
    """A management node with credentials and a passphrase no message could contain by chance."""
    app = create_app(username=PEXIP_USER, password=PEXIP_PASSWORD, passphrase=PASSPHRASE)
    with BackgroundServer(app) as server, SimulatorControl(server.url) as control:
        yield SimulatorHandle(server.url, PEXIP_USER, PEXIP_PASSWORD, control)


def test_no_secret_reaches_slack_or_the_audit_log_in_a_whole_session(
    bot_with: Callable[..., Bot], seen: Seen, slack_api: Any, private_simulator: SimulatorHandle
) -> None:
    node = private_simulator
    bot = bot_with(
        PEXIP_MANAGER_URL=node.url,
        PEXIP_USERNAME=PEXIP_USER,
        PEXIP_PASSWORD=PEXIP_PASSWORD,
        BACKUP_PASSPHRASE=PASSPHRASE,
        AUDIT_CHANNEL=AUDIT_CHANNEL,
    )
    session = [
        (ADMIN, "whoami"),
        (ADMIN, "help"),
        (ADMIN, "conferences"),
        (ADMIN, "participants VMR_1"),
        (MODERATOR, 'mute "Alice Parkes"'),
        (VIEWER, "unmute Alice"),
        (ADMIN, "dial meet@example.com bob@example.com node=conf.example.com"),
        (ADMIN, "dial meet@example.com bob@example.com"),
        (ADMIN, "backup list"),
    ]
    for user, text in session:
        bot.slack.command(text, user=user)
    seen.private("Backup files on the management node")
    seen.update("bob@example.com into VMR_1. Connected.")
    node.control.add_fault(path="/api/admin/command/v1/conference/lock/", status=401)
    bot.slack.command("lock VMR_1", user=ADMIN)
    seen.public("tried to lock VMR_1")
    bot.slack.command(f"backup restore {backup_files(node)[0]['filename']}", user=ADMIN)
    bot.slack.click(seen.button(seen.private("Restore the management node"), "Restore"))
    seen.public("restored the management node")
    assert node_commands(node, "platform/backup_restore")[0]["passphrase"] == PASSPHRASE

    entries = wait_until(lambda: len(audit_entries(bot)) >= len(session) + 2 and audit_entries(bot))
    said = json.dumps([call.params for call in seen.state.calls()])
    logged = json.dumps([entry.as_json() for entry in entries])
    for secret in (PEXIP_PASSWORD, PASSPHRASE, SIGNING_SECRET, slack_api.bot_token):
        assert secret not in said
        assert secret not in logged
    shown = [m for m in seen.everything() if not m.delete_original]
    assert all(m.text.strip() for m in shown)  # every message has its plain-text fallback
