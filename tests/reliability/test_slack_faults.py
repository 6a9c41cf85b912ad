"""When Slack answers 429 or 5xx, the bot waits as Slack's rate-limit guidance says and tries
again; an outcome reaches the channel once, and one that cannot reach it at all is never lost
silently: it is logged with the reference its audit row carries."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import Seen, node_commands, wait_until
from tests.fixtures.bot import ADMIN, MODERATOR, VIEWER
from tests.reliability.conftest import Launch, SecretBot, Tally

MUTED = f"<@{ADMIN}> muted Bob Smith in VMR_1."
UNDELIVERED = re.compile(r"could not deliver a message to Slack \(ref ([0-9a-f]{8})\)")


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch()


def attempts(seen: Seen, method: str) -> list[Any]:
    return seen.state.calls(method)


def test_a_rate_limited_outcome_is_posted_once_after_waiting_retry_after(
    bot: SecretBot, seen: Seen, simulator: Any, tally: Tally
) -> None:
    seen.state.fail("chat.postMessage", 429, retry_after=1)
    tally.faults_tried += 1

    bot.slack.command('mute "Bob Smith"', user=ADMIN)

    seen.public(MUTED, timeout=5)
    refused, posted = attempts(seen, "chat.postMessage")
    assert (refused.status, posted.status) == (429, 200)
    assert posted.at - refused.at >= 1.0  # Slack said: retry after 1 s
    assert [m.text for m in seen.in_channel()] == [MUTED]
    assert len(node_commands(simulator, "participant/mute")) == 1  # the node is not asked again


@pytest.mark.parametrize("status", [500, 503])
def test_an_outcome_slack_fails_to_take_is_posted_once_on_the_retry(
    bot: SecretBot, seen: Seen, simulator: Any, tally: Tally, status: int
) -> None:
    seen.state.fail("chat.postMessage", status)
    tally.faults_tried += 1

    bot.slack.command('mute "Bob Smith"', user=ADMIN)

    seen.public(MUTED, timeout=5)
    assert [c.status for c in attempts(seen, "chat.postMessage")] == [status, 200]
    assert [m.text for m in seen.in_channel()] == [MUTED]
    assert len(node_commands(simulator, "participant/mute")) == 1


def test_a_private_answer_slack_fails_to_take_is_retried_through_the_response_url(
    bot: SecretBot, seen: Seen, tally: Tally
) -> None:
    seen.state.fail("response_url", 500)
    tally.faults_tried += 1

    bot.slack.command('mute "Bob Smith"', user=VIEWER)

    seen.private("you need the `mute` permission")
    assert [c.status for c in attempts(seen, "response_url")] == [500, 200]
    assert len(seen.everything()) == 1


def test_a_call_edit_slack_rate_limits_lands_once_after_the_wait(
    bot: SecretBot, seen: Seen, tally: Tally
) -> None:
    seen.state.fail("chat.update", 429, retry_after=1)
    tally.faults_tried += 1

    bot.slack.command("dial meet@example.com zed@example.com", user=MODERATOR)

    seen.update("zed@example.com into VMR_1. Connected.", timeout=8)
    assert [c.status for c in attempts(seen, "chat.update")] == [429, 200]
    assert len([m for m in seen.everything() if m.kind == "update"]) == 1


def _undelivered(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = (UNDELIVERED.search(r.getMessage()) for r in caplog.records)
    return [match.group(1) for match in found if match]


def test_an_outcome_slack_never_takes_is_logged_with_the_reference_of_its_audit_row(
    bot: SecretBot,
    seen: Seen,
    simulator: Any,
    tally: Tally,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen.state.fail("chat.postMessage", 500, times=3)  # the first try and both retries
    tally.faults_tried += 1

    bot.slack.command('mute "Bob Smith"', user=ADMIN, channel="C0LOST001")

    (reference,) = wait_until(lambda: _undelivered(caplog), 8, "the failure to be logged")
    entry = wait_until(
        lambda: [e for e in bot.audit(20) if e.correlation_id == reference], 5, "the audit row"
    )[0]
    assert (entry.command, entry.outcome, entry.target) == (
        "mute",
        "success",
        "Bob Smith (VMR_1)",
    )
    assert entry.channel == "C0LOST001"
    assert len(attempts(seen, "chat.postMessage")) == 3
    assert len(node_commands(simulator, "participant/mute")) == 1  # acted once, said nowhere


def test_a_usage_answer_slack_never_takes_is_logged_with_its_reference(
    bot: SecretBot, seen: Seen, tally: Tally, caplog: pytest.LogCaptureFixture
) -> None:
    seen.state.fail("response_url", 500, times=3)
    tally.faults_tried += 1

    bot.slack.command("lock", user=ADMIN, channel="C0LOST002")

    (reference,) = wait_until(lambda: _undelivered(caplog), 8, "the failure to be logged")
    entry = wait_until(
        lambda: [e for e in bot.audit(20) if e.correlation_id == reference], 5, "the audit row"
    )[0]
    assert (entry.command, entry.outcome, entry.channel) == ("lock", "invalid", "C0LOST002")
    # one retry policy: the first try and slack_sdk's two server-error retries, nothing on top
    assert len(attempts(seen, "response_url")) == 3


def test_an_audit_channel_slack_refuses_does_not_keep_the_answer_from_the_user(
    launch_here: Launch, seen: Seen, tally: Tally, caplog: pytest.LogCaptureFixture
) -> None:
    bot = launch_here(AUDIT_CHANNEL="C0AUDIT01")
    seen.state.fail("chat.postMessage", 500, times=3)  # the audit summary, and both retries
    tally.faults_tried += 1

    bot.slack.command('mute "Bob Smith"', user=VIEWER)

    seen.private("you need the `mute` permission")
    wait_until(
        lambda: [r for r in caplog.records if "not posted to C0AUDIT01" in r.getMessage()],
        8,
        "the audit post failure to be logged",
    )
    assert [(e.user, e.outcome) for e in bot.audit()] == [(VIEWER, "denied")]
