"""Only Slack may drive the bot, and Slack always hears back within 3 seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from tests.e2e.conftest import Seen, audit_entries, node_commands, wait_until
from tests.fixtures.bot import ADMIN, CHANNEL, SIGNING_SECRET, TEAM, Bot, serve_bot

SYNC_PATH = "/api/admin/command/v1/conference/sync/"


def _mute_body() -> str:
    return urlencode(
        {
            "command": "/pexip",
            "text": 'mute "Alice Parkes"',
            "user_id": ADMIN,
            "channel_id": CHANNEL,
            "team_id": TEAM,
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "trigger-1",
        }
    )


def _nothing_was_done(bot: Bot, seen: Seen, simulator: Any) -> None:
    time.sleep(0.3)  # give a wrongly accepted request the time to act, then look
    assert simulator.control.stats()["requests_total"] == 0
    assert seen.everything() == []
    assert [c.method for c in seen.state.calls() if c.method != "auth.test"] == []
    assert audit_entries(bot) == []


def test_an_unsigned_request_is_refused_and_nothing_is_done(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.reset_stats()

    response = httpx.post(
        bot.url + "/slack/events",
        content=_mute_body(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )

    assert response.status_code == 401
    _nothing_was_done(bot, seen, simulator)


@pytest.mark.parametrize(
    "signing",
    [
        pytest.param({"secret": "not-the-signing-secret"}, id="wrong secret"),
        pytest.param({"timestamp": -6 * 60}, id="six minutes old"),  # from now, when sent
        pytest.param({"timestamp": 6 * 60}, id="six minutes ahead"),
    ],
)
def test_a_badly_signed_request_is_refused_and_nothing_is_done(
    bot: Bot,
    seen: Seen,
    simulator: Any,
    signing: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.control.reset_stats()
    if "timestamp" in signing:  # not at collection: a long run would bring it back in range
        signing = {"timestamp": int(time.time()) + signing["timestamp"]}

    with caplog.at_level(logging.WARNING, logger="bot.slack.server"):
        response = bot.slack.command('mute "Alice Parkes"', user=ADMIN, **signing)

    assert response.status_code == 401
    _nothing_was_done(bot, seen, simulator)
    # the operator sees why, without the secret
    refused = [r.getMessage() for r in caplog.records if r.name == "bot.slack.server"]
    assert refused == [
        "refused a request without a valid Slack signature from 127.0.0.1 "
        "(if it came from Slack, check SLACK_SIGNING_SECRET)"
    ]
    assert SIGNING_SECRET not in caplog.text


def test_a_body_changed_after_signing_is_refused(bot: Bot, seen: Seen, simulator: Any) -> None:
    simulator.control.reset_stats()
    ts = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(
        timestamp=ts, body=_mute_body()
    )
    response = httpx.post(
        bot.url + "/slack/events",
        content=_mute_body().replace("Alice", "Bob"),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        },
        timeout=5,
    )

    assert response.status_code == 401
    _nothing_was_done(bot, seen, simulator)


def test_a_correctly_signed_request_is_accepted(bot: Bot, seen: Seen) -> None:
    response = bot.slack.command("whoami", user=ADMIN)

    assert response.status_code == 200
    seen.private(f"You are <@{ADMIN}>.")


def test_healthz_answers_while_the_process_can_serve(bot: Bot) -> None:
    response = httpx.get(bot.url + "/healthz", timeout=5)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status"] == "ok"


def test_slack_hears_back_within_3_s_while_the_node_takes_5_s_and_the_outcome_follows(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.add_fault(path="/api/", latency=5.0)

    started = time.monotonic()
    response = bot.slack.command("sync 1", user=ADMIN)
    acknowledged = time.monotonic() - started

    assert response.status_code == 200
    assert acknowledged < 3.0
    seen.public(f"<@{ADMIN}> synced template 1.", timeout=10)
    assert node_commands(simulator, "conference/sync") == [{"conference_sync_template_id": "1"}]


def test_a_command_acknowledged_just_before_shutdown_still_gets_its_outcome(
    simulator: Any, slack_api: Any, seen: Seen, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator.control.add_fault(path="/api/admin/command/", latency=1.0)

    with serve_bot(simulator, slack_api, tmp_path, monkeypatch) as bot:
        assert bot.slack.command("sync 1", user=ADMIN).status_code == 200
    # the bot has stopped: stopping waited for the command Slack had been told was under way

    assert seen.public(f"<@{ADMIN}> synced template 1.", timeout=0.5)
    assert node_commands(simulator, "conference/sync") == [{"conference_sync_template_id": "1"}]


def test_a_command_the_node_does_not_answer_may_or_may_not_have_happened(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(PEXIP_TIMEOUT="1")
    simulator.control.add_fault(path="/api/admin/command/", latency=2.0)

    started = time.monotonic()
    bot.slack.command("sync 2", user=ADMIN)
    assert time.monotonic() - started < 3.0

    said = seen.public(f"<@{ADMIN}> asked to sync template 2:", timeout=5)
    assert "may or may not have happened" in said.text
    # the node acts once its latency has passed; the bot did not send the command again
    wait_until(lambda: node_commands(simulator, "conference/sync"), 5, "the sync")
    assert simulator.control.stats()["requests"][f"POST {SYNC_PATH}"] == 1
    assert node_commands(simulator, "conference/sync") == [{"conference_sync_template_id": "2"}]
