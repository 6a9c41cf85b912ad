"""Only requests Slack signed, within five minutes, are acted on: anything else gets 401, reaches
neither the management node nor Slack, and leaves no audit row.

The unsigned and six-minutes-old cases are stories in tests/e2e/test_security_and_ack.py; these
go further: every way a signature can be missing, malformed, misapplied, stale, replayed or
outlived by a changed body."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from tests.e2e.conftest import Seen, node_commands, wait_until
from tests.fixtures.bot import ADMIN, CHANNEL, TEAM, VIEWER
from tests.reliability.conftest import SECRETS, Launch, SecretBot, Tally

SECRET = SECRETS["SLACK_SIGNING_SECRET"]
FORM = "application/x-www-form-urlencoded"
SETTLE = 0.1  # time a wrongly accepted request would need to reach the node or Slack


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch()


def slash_body(
    text: str = 'mute "Bob Smith"', user: str = ADMIN, response_url: str = "http://127.0.0.1:9/"
) -> str:
    return urlencode(
        {
            "command": "/pexip",
            "text": text,
            "user_id": user,
            "channel_id": CHANNEL,
            "team_id": TEAM,
            "response_url": response_url,
            "trigger_id": "trigger-forged",
        }
    )


def click_body(query: str, user: str = VIEWER) -> str:
    """A Mute button's click, its value the typed command (handlers/registry.py)."""
    command = {"c": "mute", "a": {"participant": {"query": query}}}
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "channel": {"id": CHANNEL},
        "response_url": "http://127.0.0.1:9/",
        "actions": [
            {"action_id": "participant_mute", "value": json.dumps(command), "type": "button"}
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def sign(body: str | bytes, timestamp: str, secret: str = SECRET) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=text) or ""


def now() -> str:
    return str(int(time.time()))


def signed_headers(body: str, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or now()
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(body, ts),
    }


Forgery = Callable[[], tuple[str | bytes, dict[str, Any]]]


def _no_headers() -> tuple[str, dict[str, Any]]:
    return slash_body(), {"Content-Type": FORM}


def _signature_only() -> tuple[str, dict[str, Any]]:
    body = slash_body()
    return body, {"Content-Type": FORM, "X-Slack-Signature": sign(body, now())}


def _timestamp_only() -> tuple[str, dict[str, Any]]:
    return slash_body(), {"Content-Type": FORM, "X-Slack-Request-Timestamp": now()}


def _empty_signature() -> tuple[str, dict[str, Any]]:
    body = slash_body()
    return body, signed_headers(body) | {"X-Slack-Signature": ""}


def _wrong_secret() -> tuple[str, dict[str, Any]]:
    body, ts = slash_body(), now()
    return body, signed_headers(body) | {"X-Slack-Signature": sign(body, ts, "not-our-secret")}


def _wrong_version() -> tuple[str, dict[str, Any]]:
    body = slash_body()
    headers = signed_headers(body)
    headers["X-Slack-Signature"] = "v1=" + headers["X-Slack-Signature"].removeprefix("v0=")
    return body, headers


def _bare_digest() -> tuple[str, dict[str, Any]]:
    body = slash_body()
    headers = signed_headers(body)
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"].removeprefix("v0=")
    return body, headers


def _digest_in_capitals() -> tuple[str, dict[str, Any]]:
    body = slash_body()
    headers = signed_headers(body)
    headers["X-Slack-Signature"] = "v0=" + headers["X-Slack-Signature"][3:].upper()
    return body, headers


def _signed_for_another_second() -> tuple[str, dict[str, Any]]:
    body = slash_body()
    signed_at = int(time.time())
    return body, {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": str(signed_at + 1),
        "X-Slack-Signature": sign(body, str(signed_at)),
    }


def _at(offset_seconds: int) -> Forgery:
    def forged() -> tuple[str, dict[str, Any]]:
        body = slash_body()
        return body, signed_headers(body, str(int(time.time()) + offset_seconds))

    return forged


def _timestamp(value: str) -> Forgery:
    """Signed correctly over a timestamp no clock can be compared with."""

    def forged() -> tuple[str, dict[str, Any]]:
        body = slash_body()
        return body, {
            "Content-Type": FORM,
            "X-Slack-Request-Timestamp": value,
            "X-Slack-Signature": sign(body, value),
        }

    return forged


def _tampered(change: Callable[[str], str], body: str | None = None) -> Forgery:
    """Signed by Slack, then changed on the way."""

    def forged() -> tuple[str, dict[str, Any]]:
        original = body or slash_body()
        return change(original), signed_headers(original)

    return forged


def _non_ascii_signature() -> tuple[str, dict[str, Any]]:
    body = slash_body()
    headers = signed_headers(body)
    forged = "v0=é" + headers["X-Slack-Signature"][4:]
    return body, headers | {"X-Slack-Signature": forged.encode("latin-1")}


def _not_utf8() -> tuple[bytes, dict[str, Any]]:
    body = slash_body().encode() + b"%FF\xff\xfe"
    return body, signed_headers(slash_body())


def _url_verification() -> tuple[str, dict[str, Any]]:
    body = json.dumps({"type": "url_verification", "challenge": "forged", "token": "x"})
    return body, {"Content-Type": "application/json"}


FORGERIES: dict[str, Forgery] = {
    "no signature headers": _no_headers,
    "signature without timestamp": _signature_only,
    "timestamp without signature": _timestamp_only,
    "empty signature": _empty_signature,
    "signed with another secret": _wrong_secret,
    "v1= version prefix": _wrong_version,
    "digest without v0= prefix": _bare_digest,
    "digest in capitals": _digest_in_capitals,
    "signed for another second": _signed_for_another_second,
    "5 min 1 s old": _at(-301),
    "an hour old": _at(-3600),
    "6 min ahead": _at(6 * 60),
    "timestamp 0": _timestamp("0"),
    "negative timestamp": _timestamp("-1"),
    "timestamp of 30 digits": _timestamp("9" * 30),
    "timestamp of 5000 digits": _timestamp("9" * 5000),
    "timestamp 1e10": _timestamp("1e10"),
    "timestamp in words": _timestamp("now"),
    "empty timestamp": _timestamp(""),
    "fractional timestamp": _timestamp(f"{time.time():.3f}"),
    "text changed after signing": _tampered(lambda b: b.replace("Bob", "Carol")),
    "user changed after signing": _tampered(
        lambda b: b.replace(VIEWER, ADMIN), slash_body("end VMR_1", user=VIEWER)
    ),
    "button value changed after signing": _tampered(
        lambda b: b.replace("mute", "end"), click_body("Bob")
    ),
    "parameter appended after signing": _tampered(lambda b: b + "&text=end+VMR_1"),
    "body truncated after signing": _tampered(lambda b: b[: len(b) // 2]),
    "non-ASCII signature": _non_ascii_signature,
    "body not UTF-8": _not_utf8,
    "unsigned url_verification": _url_verification,
}


def nothing_was_done(bot: SecretBot, seen: Seen, simulator: Any, audit_rows: int) -> None:
    time.sleep(SETTLE)
    assert simulator.control.stats()["requests_total"] == 0
    assert [c.method for c in seen.state.calls() if c.method != "auth.test"] == []
    assert len(bot.audit()) == audit_rows


@pytest.mark.parametrize("forgery", list(FORGERIES.values()), ids=list(FORGERIES))
def test_a_forged_request_gets_401_and_nothing_is_done(
    bot: SecretBot, seen: Seen, simulator: Any, tally: Tally, forgery: Forgery
) -> None:
    audit_rows = len(bot.audit())
    body, headers = forgery()

    response = bot.post_raw(body, headers)
    tally.requests_forged += 1

    assert response.status_code == 401
    assert response.json() == {"error": "invalid request"}
    nothing_was_done(bot, seen, simulator, audit_rows)
    assert bot.healthz() == 200


def test_an_unsigned_ssl_check_carrying_a_command_is_refused(
    bot: SecretBot, seen: Seen, simulator: Any, tally: Tally
) -> None:
    audit_rows = len(bot.audit())

    response = bot.post_raw(slash_body() + "&ssl_check=1", {"Content-Type": FORM})
    tally.requests_forged += 1

    assert response.status_code == 401
    nothing_was_done(bot, seen, simulator, audit_rows)


def test_a_signed_ssl_check_is_answered_and_runs_nothing(
    bot: SecretBot, seen: Seen, simulator: Any
) -> None:
    audit_rows = len(bot.audit())
    body = slash_body() + "&ssl_check=1"

    response = bot.post_raw(body, signed_headers(body))

    assert response.status_code == 200
    nothing_was_done(bot, seen, simulator, audit_rows)


def test_a_request_signed_4_min_50_s_ago_is_still_accepted(
    bot: SecretBot, seen: Seen, slack_api: Any
) -> None:
    """The control for the cases above: the window is five minutes, not less."""
    reply_to = slack_api.response_url("control", channel=CHANNEL, user=ADMIN)
    body = slash_body("whoami", response_url=reply_to)

    response = bot.post_raw(body, signed_headers(body, str(int(time.time()) - 290)))

    assert response.status_code == 200
    seen.private(f"You are <@{ADMIN}>.")


def test_a_valid_request_replayed_after_five_minutes_is_refused(
    bot: SecretBot, seen: Seen, simulator: Any, tally: Tally, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = slash_body('mute "Bob Smith"')
    headers = signed_headers(body)
    first = bot.post_raw(body, headers)
    assert first.status_code == 200
    seen.public(f"<@{ADMIN}> muted Bob Smith in VMR_1")
    wait_until(lambda: bot.audit(), what="the audit entry")
    audit_rows, slack_calls = len(bot.audit()), len(seen.state.calls())
    simulator.control.reset_stats()

    # the same bytes, captured and sent again once the bot's clock has moved on 5 min 1 s
    later = time.time() + 301
    monkeypatch.setattr(Clock, "now", lambda self: later)
    replayed = bot.post_raw(body, headers)
    tally.requests_forged += 1

    assert replayed.status_code == 401
    time.sleep(SETTLE)
    assert simulator.control.stats()["requests_total"] == 0
    assert len(seen.state.calls()) == slack_calls
    assert len(bot.audit()) == audit_rows
    assert node_commands(simulator) == []
