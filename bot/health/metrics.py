"""Prometheus metrics of every process (INTERFACE §3 `GET /metrics`), on the official
prometheus-client.

Counted where it happens: commands by word and outcome where every attempt is audited
(`bot.store.audit`), node requests in the management-node client's one chokepoint, Slack Web API
calls through a retry handler that sees every response (`bot.slack.client.SlackCallObserver`),
events where they are received (next issue). Backups are read from the database at each scrape
(`bot.health.exposition`), so the web process shows what the clock did.

Labels take only words from fixed sets: the command word (known words, else "other"), outcomes,
Slack method names and error codes of Slack's own shape. No user or channel ID, name or secret.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from prometheus_client import Counter, Gauge, Histogram

from bot.auth.policy import ALWAYS_ALLOWED, PERMISSIONS

COMMAND_WORDS = frozenset({*ALWAYS_ALLOWED, *PERMISSIONS, "backup"})
_SLACK_METHOD = re.compile(r"^[a-z]+(?:\.[a-zA-Z]+){1,3}$")
_SLACK_ERROR = re.compile(r"^[a-z0-9_]{1,64}$")

COMMANDS = Counter(
    "pexbot_commands",
    "Slash commands, buttons and forms handled, by command word and outcome.",
    ["command", "outcome"],
)
NODE_LATENCY = Histogram(
    "pexbot_node_request_duration_seconds",
    "Requests to the Pexip management node, by kind (lookup: a read; command: a change).",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
NODE_IN_FLIGHT = Gauge(
    "pexbot_node_requests_in_flight", "Requests at the Pexip management node right now."
)
SLACK_CALLS = Counter(
    "pexbot_slack_api_calls",
    "Slack Web API requests sent, retries included, by method.",
    ["method"],
)
SLACK_ERRORS = Counter(
    "pexbot_slack_api_errors",
    "Slack Web API requests that failed, by method and error (http_429 when rate limited, "
    "http_5xx, Slack's error code, or connection).",
    ["method", "error"],
)
SLACK_RETRIES = Counter(
    "pexbot_slack_api_retries",
    "Slack Web API requests that were retries of a failed one (after a 429, a 5xx or a lost "
    "connection), by method.",
    ["method"],
)
EVENTS = Counter(
    "pexbot_events_received",
    "Events received from the management node's event sinks, by event type.",
    ["type"],
)


EVENT_TYPES = frozenset(
    {
        "participant_connected",
        "participant_updated",
        "participant_disconnected",
        "participant_media_stream_window",
        "participant_media_streams_destroyed",
        "conference_started",
        "conference_updated",
        "conference_ended",
        "eventsink_started",
        "eventsink_updated",
        "eventsink_stopped",
        "eventsink_ended",
        "eventsink_bulk",
    }
)
"""The vendor's event names (shared/pexip-docs/real-node-facts.md §6); any other is "other"."""


def count_event(kind: str) -> None:
    """One event received from an event sink (issue 15 calls this where events arrive)."""
    EVENTS.labels(kind if kind in EVENT_TYPES else "other").inc()


def count_command(word: str, outcome: str) -> None:
    """One command attempt; `word` is the audited command (its first word is the label)."""
    first = word.split(" ", 1)[0].lower()
    COMMANDS.labels(first if first in COMMAND_WORDS else "other", outcome).inc()


@contextmanager
def node_request(kind: str) -> Iterator[None]:
    """Time one request to the node (`kind`: lookup or command) and count it in flight."""
    started = time.perf_counter()
    NODE_IN_FLIGHT.inc()
    try:
        yield
    finally:
        NODE_IN_FLIGHT.dec()
        NODE_LATENCY.labels(kind).observe(time.perf_counter() - started)


# --- Slack -------------------------------------------------------------------------------


def slack_method(url: str) -> str:
    """`chat.postMessage` for `https://slack.com/api/chat.postMessage`; a response URL (whose
    path holds a secret) is `response_url`."""
    path = urlsplit(url).path
    method = path.rsplit("/api/", 1)[1] if "/api/" in path else ""
    return method if _SLACK_METHOD.match(method) else "response_url"


def count_slack_response(method: str, problem: str | None, *, retry: bool = False) -> None:
    """One Slack Web API request (`slack_method` of its URL), its error if any, and whether it
    was a retry."""
    SLACK_CALLS.labels(method).inc()
    if retry:
        SLACK_RETRIES.labels(method).inc()
    if problem is not None:
        SLACK_ERRORS.labels(method, problem if _SLACK_ERROR.match(problem) else "other").inc()
