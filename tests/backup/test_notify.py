"""The backup notification as the channel sees it, posted through the Slack stand-in."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.web.async_client import AsyncWebClient

import bot.slack.client
from bot.backup.notify import notify, render_report, summary
from bot.backup.report import BackupReport, StoredAt
from bot.slack.client import slack_client

CHANNEL = "C0BACKUPS"
STARTED = datetime(2026, 5, 2, 1, 0, 3, tzinfo=UTC)
FILE = "pexip_backup_mgr_36_1_26_05_02_01_00_10.tar.gpg"

SUCCESS = BackupReport(
    outcome="success",
    trigger="schedule",
    started_at=STARTED,
    finished_at=STARTED + timedelta(seconds=14),
    filename=FILE,
    size=9369536,
    sha256="ab" * 32,
    stored_at=StoredAt("manager.example.com", Path("/var/backups/pexip") / FILE),
    pruned_node=("pexip_backup_old1.tar.gpg", "pexip_backup_old2.tar.gpg"),
    pruned_local=("pexip_backup_old1.tar.gpg",),
    scheduled_for=datetime(2026, 5, 2, 2, 0, tzinfo=ZoneInfo("Europe/London")),
)
FAILURE = BackupReport(
    outcome="failure",
    trigger="manual",
    requested_by="U0ADMIN01",
    started_at=STARTED,
    finished_at=STARTED + timedelta(minutes=10, seconds=1),
    failed_step="wait",
    reason="No new backup file appeared on the management node within 600 seconds.",
)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.slack.client, "RETRY_BACKOFF", 0.01)


def block_texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


# --- what it says --------------------------------------------------------------------------


def test_success_names_the_file_size_duration_places_and_what_was_pruned() -> None:
    text, blocks = render_report(SUCCESS)

    assert text == (
        f"Scheduled backup succeeded: {FILE} (9.4 MB) in 14 s, stored on manager.example.com "
        f"and in /var/backups/pexip/{FILE}. "
        "Pruned 3 old backups: 2 from the node and 1 from the download folder."
    )
    rendered = block_texts(blocks)
    assert ":white_check_mark:" in rendered and "`/var/backups/pexip/" in rendered
    assert "pexip_backup_old2.tar.gpg" in rendered and "ab" * 32 in rendered
    assert buttons(blocks) == []


def test_failure_names_the_step_and_why_and_offers_a_retry_button() -> None:
    text, blocks = render_report(FAILURE)

    assert text == (
        "Backup requested by <@U0ADMIN01> failed while waiting for the backup file: "
        "No new backup file appeared on the management node within 600 seconds. "
        "Nothing was pruned: old backups are pruned only by the nightly job."
    )
    [retry] = buttons(blocks)
    assert retry["action_id"] == "backup_retry"
    assert retry["value"] == '{"c": "backup now"}'
    assert retry["text"]["text"] == "Retry now"
    assert "old backups are pruned only by the nightly job" in block_texts(blocks)


def test_a_late_run_says_it_was_late_and_which_run_was_missed() -> None:
    late = replace(
        SUCCESS,
        started_at=STARTED + timedelta(hours=3),
        finished_at=STARTED + timedelta(hours=3, seconds=14),
        late_by=timedelta(hours=3, minutes=4),
    )

    text, blocks = render_report(late)

    note = "started 3 h 4 min late: the 2026-05-02 02:00 BST run was missed"
    assert text.startswith(f"Scheduled backup succeeded ({note}): ")
    assert f":warning: S{note[1:]}." in block_texts(blocks)


def test_a_failed_prune_says_the_backup_itself_was_made() -> None:
    report = replace(SUCCESS, outcome="failure", failed_step="prune", reason="Refused.")

    text, blocks = render_report(report)

    assert text.startswith("Scheduled backup failed while pruning old backups: Refused. ")
    assert f"The backup itself was made: {FILE} (9.4 MB)" in text
    assert len(buttons(blocks)) == 1


def test_node_words_are_escaped_for_slack_but_not_for_the_terminal() -> None:
    report = replace(FAILURE, reason="The node said <b>no</b> & stopped.")

    text, _ = render_report(report)

    assert "said &lt;b&gt;no&lt;/b&gt; &amp; stopped." in text
    assert "said <b>no</b> & stopped." in summary(report)


# --- posting -------------------------------------------------------------------------------


def client_for(slack_api: Any) -> AsyncWebClient:
    return slack_client(slack_api.bot_token, slack_api.url)


async def test_the_report_is_posted_to_the_backup_channel(slack_api: Any) -> None:
    assert await notify(client_for(slack_api), CHANNEL, FAILURE)

    [message] = slack_api.state.messages()
    assert (message.kind, message.channel) == ("postMessage", CHANNEL)
    assert message.text == render_report(FAILURE)[0]
    assert message.blocks == render_report(FAILURE)[1]


async def test_a_rate_limited_post_is_retried_after_retry_after(slack_api: Any) -> None:
    slack_api.state.fail("chat.postMessage", 429, retry_after=0)

    assert await notify(client_for(slack_api), CHANNEL, SUCCESS)

    assert [c.status for c in slack_api.state.calls("chat.postMessage")] == [429, 200]
    assert len(slack_api.state.messages()) == 1


async def test_a_plain_client_still_gets_server_errors_retried(slack_api: Any) -> None:
    """The lead's Bolt client has no 5xx retry handler: notify adds one for its own post."""
    plain = AsyncWebClient(token=slack_api.bot_token, base_url=slack_api.url)
    slack_api.state.fail("chat.postMessage", 503, times=2)

    assert await notify(plain, CHANNEL, SUCCESS)

    assert [c.status for c in slack_api.state.calls("chat.postMessage")] == [503, 503, 200]
    assert len(plain.retry_handlers) == 1  # the caller's client is left as it was


async def test_slack_unavailable_returns_false_and_logs_an_error(
    slack_api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    slack_api.state.fail("chat.postMessage", 503, times=10)

    assert not await notify(client_for(slack_api), CHANNEL, SUCCESS)

    assert slack_api.state.messages() == []
    assert len(slack_api.state.calls("chat.postMessage")) == 3  # the first try and 2 retries
    [record] = [r for r in caplog.records if r.name == "bot.backup.notify"]
    assert record.levelno == logging.ERROR
    assert (
        record.getMessage() == f"backup notification to {CHANNEL} not posted: HTTP 503 fatal_error"
    )


async def test_slack_unreachable_returns_false(caplog: pytest.LogCaptureFixture) -> None:
    client = slack_client("xoxb-test", "http://127.0.0.1:9/api/")

    assert not await notify(client, CHANNEL, SUCCESS)

    assert "not posted: ClientConnectorError" in caplog.text
