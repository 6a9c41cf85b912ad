"""`GET /metrics`, as the people who run pexbot scrape it: commands by word and outcome, node
request latency and requests in flight, Slack calls and errors (429s included), events by type,
backups by outcome and the last success (read from the database, so the web process shows what
the clock or `pexbot backup run` did). No user ID, name or secret in it."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.cli import main
from tests.e2e.conftest import Seen
from tests.fixtures.bot import ADMIN, MODERATOR, SIGNING_SECRET, VIEWER, Bot


def scrape(bot: Bot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{bot.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_command_is_counted_by_word_and_outcome_with_its_node_requests(
    bot: Bot, seen: Seen
) -> None:
    before = scrape(bot)
    bot.slack.command("conferences", user=MODERATOR)
    seen.private("Running conferences")
    bot.slack.command("end VMR_1", user=VIEWER)
    seen.private("Not allowed")
    time.sleep(0.2)  # the audit entry (and its count) follows the reply
    after = scrape(bot)

    counted = "pexbot_commands_total"
    assert value(after, counted, command="conferences", outcome="success") == (
        value(before, counted, command="conferences", outcome="success") + 1
    )
    assert value(after, counted, command="end", outcome="denied") == (
        value(before, counted, command="end", outcome="denied") + 1
    )
    lookups = "pexbot_node_request_duration_seconds_count"
    assert value(after, lookups, kind="lookup") >= value(before, lookups, kind="lookup") + 2
    assert value(after, "pexbot_node_requests_in_flight") == 0


def test_slack_rate_limits_are_counted_by_method(bot: Bot, seen: Seen, slack_api: Any) -> None:
    before = scrape(bot)
    slack_api.state.fail("chat.postMessage", 429, retry_after=1)
    bot.slack.command("lock VMR_2", user=ADMIN)
    seen.public("locked VMR_2", timeout=10)
    after = scrape(bot)
    errors = "pexbot_slack_api_errors_total"
    calls = "pexbot_slack_api_calls_total"
    assert value(after, errors, method="chat.postMessage", error="http_429") == (
        value(before, errors, method="chat.postMessage", error="http_429") + 1
    )
    assert value(after, calls, method="chat.postMessage") >= (
        value(before, calls, method="chat.postMessage") + 2
    )
    retries = "pexbot_slack_api_retries_total"
    assert value(after, retries, method="chat.postMessage") == (
        value(before, retries, method="chat.postMessage") + 1
    )


def test_the_last_good_backup_is_read_from_the_database(bot: Bot) -> None:
    before = scrape(bot)
    assert value(before, "pexbot_backup_last_success_timestamp_seconds") == 0
    started = time.time()
    assert main(["backup", "run"]) == 0  # another process, sharing DATABASE_URL
    after = scrape(bot)
    assert value(after, "pexbot_backups_total", outcome="success") == 1
    assert value(after, "pexbot_backups_total", outcome="failure") == 0
    last = value(after, "pexbot_backup_last_success_timestamp_seconds")
    assert started - 1 <= last <= time.time() + 1


def test_events_exist_and_nothing_names_a_user_or_a_secret(bot: Bot, seen: Seen) -> None:
    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)
    seen.public("muted", timeout=10)
    body = httpx.get(f"{bot.url}/metrics").text
    assert "# TYPE pexbot_events_received_total counter" in body
    for secret in (MODERATOR, "Alice", SIGNING_SECRET, bot.settings.pexip_password, "xoxb-"):
        text = secret if isinstance(secret, str) else secret.get_secret_value()  # type: ignore[union-attr]
        assert text not in body


def test_labels_take_only_known_words() -> None:
    from prometheus_client import generate_latest

    from bot.health import metrics

    metrics.count_event("participant_connected")
    metrics.count_event("U0SECRET1 joined")
    metrics.count_command("U0SECRET2", "invalid")
    metrics.count_slack_response("chat.postMessage", "not a code <@U0SECRET3>")
    body = generate_latest().decode()
    assert 'pexbot_events_received_total{type="participant_connected"}' in body
    assert 'pexbot_events_received_total{type="other"}' in body
    assert 'pexbot_commands_total{command="other",outcome="invalid"}' in body
    assert 'error="other"' in body and "SECRET" not in body
    assert metrics.slack_method("https://slack.com/api/chat.postMessage") == "chat.postMessage"
    assert metrics.slack_method("https://hooks.slack.com/commands/T1/2/secret") == "response_url"
