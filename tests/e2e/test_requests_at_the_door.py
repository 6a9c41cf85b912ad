"""Requests at the door (INTERFACE §3): a body over 1 MiB gets 413 before anything else, a
signature accepted once is refused a second time (401) whichever process sees it, what no
listener takes is acknowledged (a click on it answered privately that the button is out of date),
and response URLs (capabilities to post as the bot) never reach the log."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.slack_requests import SlackRequests
from handlers.modals import CONFERENCE_OPTIONS, DIAL_CALLBACK
from tests.e2e.conftest import Seen, audit_entries, node_commands, wait_until
from tests.fixtures.bot import (
    ADMIN,
    CHANNEL,
    SIGNING_SECRET,
    TEAM,
    Bot,
    bot_environment,
    serve_bot,
)

MIB = 1024 * 1024


def _signed_post(url: str, body: bytes, **headers: str) -> httpx.Response:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(
        timestamp=ts, body=body.decode()
    )
    return httpx.post(
        url + "/slack/events",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or "",
            **headers,
        },
        timeout=10,
    )


def _command_body(text: str, padding: int = 0) -> bytes:
    fields = {
        "command": "/pexip",
        "text": text,
        "user_id": ADMIN,
        "channel_id": CHANNEL,
        "team_id": TEAM,
        "response_url": "http://127.0.0.1:9/unused",
        "trigger_id": "trigger-1",
    }
    if padding:
        fields["pad"] = "x" * padding
    return urlencode(fields).encode()


# --- 413 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_a_body_over_1_mib_gets_413_and_nothing_is_done(
    bot: Bot, seen: Seen, simulator: Any, signed: bool
) -> None:
    simulator.control.reset_stats()
    body = _command_body("lock VMR_2", padding=MIB)
    if signed:
        response = _signed_post(bot.url, body)
    else:
        response = httpx.post(bot.url + "/slack/events", content=body, timeout=10)
    assert response.status_code == 413
    time.sleep(0.3)
    assert simulator.control.stats()["requests_total"] == 0
    assert seen.everything() == [] and audit_entries(bot) == []


def test_a_chunked_body_over_1_mib_gets_413(bot: Bot, simulator: Any) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(17):
            yield b"x" * 65536

    response = httpx.post(bot.url + "/slack/events", content=chunks(), timeout=10)
    assert response.status_code == 413


def test_a_body_of_exactly_1_mib_is_read_and_judged_on_its_signature(bot: Bot) -> None:
    body = _command_body("whoami")
    body += b"&pad=" + b"x" * (MIB - len(body) - 5)
    assert len(body) == MIB
    assert _signed_post(bot.url, body).status_code == 200
    unsigned = httpx.post(bot.url + "/slack/events", content=body, timeout=10)
    assert unsigned.status_code == 401


# --- replays ----------------------------------------------------------------------------------


def test_a_replayed_request_is_refused_and_acts_once(
    bot: Bot, seen: Seen, simulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ts = str(int(time.time()))
    body = _command_body("lock VMR_2").decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=ts, body=body
        )
        or "",
    }
    first = httpx.post(bot.url + "/slack/events", content=body, headers=headers, timeout=5)
    replay = httpx.post(bot.url + "/slack/events", content=body, headers=headers, timeout=5)
    assert (first.status_code, replay.status_code) == (200, 401)
    wait_until(lambda: audit_entries(bot), 5, "the audit row")
    time.sleep(0.5)
    assert len(node_commands(simulator, "conference/lock")) == 1
    assert [e.command for e in audit_entries(bot)] == ["lock"]
    assert "refused a replayed Slack request" in caplog.text


def _signed_headers(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=ts, body=body
        )
        or "",
    }


@pytest.mark.postgres
def test_a_request_replayed_to_another_process_is_refused(
    bot_with: Callable[..., Bot], simulator: Any
) -> None:
    url = os.environ.get("PEXBOT_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    one, other = bot_with(DATABASE_URL=url), bot_with(DATABASE_URL=url)
    body = _command_body(f"lock VMR_2 {time.time()}").decode()  # unique text: a fresh signature
    headers = _signed_headers(body)
    first = httpx.post(one.url + "/slack/events", content=body, headers=headers, timeout=5)
    replay = httpx.post(other.url + "/slack/events", content=body, headers=headers, timeout=5)
    assert (first.status_code, replay.status_code) == (200, 401)


@pytest.mark.postgres
@pytest.mark.parametrize("text", ["lock VMR_2", "dial"], ids=["recorded", "opens a form"])
def test_a_request_replayed_to_another_process_does_nothing_there(
    bot_with: Callable[..., Bot], simulator: Any, slack_api: Any, text: str
) -> None:
    """On PostgreSQL the replay claim is decided with the command's record, or, for what is
    not recorded (a form opens at once), before it happens: a replay does nothing either way."""
    url = os.environ.get("PEXBOT_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    one, other = bot_with(DATABASE_URL=url), bot_with(DATABASE_URL=url)
    fields = {"text": text, "trigger_id": f"trigger-{time.time()}"}  # a fresh signature
    body = urlencode({**dict(parse_qsl(_command_body(text).decode())), **fields})
    headers = _signed_headers(body)
    first = httpx.post(one.url + "/slack/events", content=body, headers=headers, timeout=5)
    replay = httpx.post(other.url + "/slack/events", content=body, headers=headers, timeout=5)
    assert (first.status_code, replay.status_code) == (200, 401)
    if text == "dial":
        wait_until(lambda: slack_api.state.calls("views.open"), 5, "the form")
        time.sleep(0.5)
        assert len(slack_api.state.calls("views.open")) == 1
    else:
        wait_until(lambda: node_commands(simulator, "conference/lock"), 5, "the lock")
        time.sleep(0.5)
        assert len(node_commands(simulator, "conference/lock")) == 1


def test_a_request_replayed_after_a_restart_is_refused(
    simulator: Any, slack_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite (one serve owns the file): the serve's memory decides, and what it accepted is
    written to the file, which the next run starts from."""
    body = _command_body("lock VMR_2").decode()
    headers = _signed_headers(body)
    with serve_bot(simulator, slack_api, tmp_path, monkeypatch) as before:
        first = httpx.post(before.url + "/slack/events", content=body, headers=headers, timeout=5)
        replay = httpx.post(before.url + "/slack/events", content=body, headers=headers, timeout=5)
    with serve_bot(simulator, slack_api, tmp_path, monkeypatch) as after:
        later = httpx.post(after.url + "/slack/events", content=body, headers=headers, timeout=5)
    assert (first.status_code, replay.status_code, later.status_code) == (200, 401, 401)
    assert len(node_commands(simulator, "conference/lock")) == 1


def test_a_command_gives_way_to_a_request_still_being_received_but_not_for_long(
    bot: Bot, simulator: Any
) -> None:
    """Acknowledgements first (bot.command_queue): while a client is still sending a request,
    an acknowledged command waits; not past GIVE_WAY (0.3 s), however long that request takes."""
    door = urlsplit(bot.url)
    slow = socket.create_connection((door.hostname or "127.0.0.1", door.port or 80), timeout=5)
    try:
        slow.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 100\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\ncommand=%2Fpex"
        )
        time.sleep(0.1)  # the bot has read the head: the request is open at the door
        acked = _signed_post(bot.url, _command_body("lock VMR_2"))
        acked_at = time.monotonic()
        assert acked.status_code == 200
        wait_until(lambda: node_commands(simulator, "conference/lock"), 5, "the lock")
        waited = time.monotonic() - acked_at
    finally:
        slow.close()
    assert 0.15 < waited < 2.0, waited


def test_the_same_options_request_twice_in_a_second_gets_options_both_times(bot: Bot) -> None:
    """Typing, deleting and retyping sends Slack's options request twice, byte for byte: it
    changes nothing, so it is no replay to refuse."""
    payload = {
        "type": "block_suggestion",
        "user": {"id": ADMIN, "username": ADMIN.lower(), "team_id": TEAM},
        "team": {"id": TEAM},
        "action_id": CONFERENCE_OPTIONS,
        "block_id": "conference",
        "value": "VMR",
        "view": {"id": "V0FORM0001", "type": "modal", "callback_id": DIAL_CALLBACK},
    }
    ts = int(time.time())
    answers = [bot.slack.interact(payload, timestamp=ts) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert "vmr1@meet.example.com" in [o["value"] for o in answers[0].json()["options"]]


# --- shape -------------------------------------------------------------------------------------

_CLICK = {"type": "block_actions", "team": {"id": TEAM}, "trigger_id": "trigger-1"}
_ACTION = {"action_id": "cancel", "value": "x", "block_id": "b1"}
NOT_SLACKS = {
    "a JSON list": ("application/json", json.dumps([{"type": "block_actions"}])),
    "JSON that is not JSON": ("application/json", '{"type": "block_actions",'),
    "a click without a user": (
        "application/x-www-form-urlencoded",
        urlencode({"payload": json.dumps({**_CLICK, "actions": [_ACTION]})}),
    ),
    "a click whose user is null": (
        "application/x-www-form-urlencoded",
        urlencode({"payload": json.dumps({**_CLICK, "user": None, "actions": [_ACTION]})}),
    ),
    "a form whose payload is not JSON": (
        "application/x-www-form-urlencoded",
        urlencode({"payload": "{not json"}),
    ),
    # well shaped where pexbot looks, but Bolt itself cannot read it (it raised: a 500)
    "an event whose enterprise is a number": (
        "application/json",
        json.dumps({"type": "event_callback", "event": {"type": "app_mention", "enterprise": 5}}),
    ),
}


@pytest.mark.parametrize("case", NOT_SLACKS, ids=list(NOT_SLACKS))
def test_a_signed_request_not_shaped_like_slacks_gets_400_and_nothing_runs(
    bot: Bot, seen: Seen, simulator: Any, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    simulator.control.reset_stats()
    content_type, body = NOT_SLACKS[case]
    response = _signed_post(bot.url, body.encode(), **{"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json() == {"error": "malformed payload"}
    time.sleep(0.3)
    assert simulator.control.stats()["requests_total"] == 0
    assert seen.everything() == [] and audit_entries(bot) == []
    assert "refused a signed request that is not a Slack payload" in caplog.text
    assert "Traceback" not in caplog.text


# --- what no listener takes -----------------------------------------------------------------


def test_a_click_on_an_unknown_button_is_answered_privately_that_it_is_out_of_date(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.reset_stats()
    button = {"action_id": "conference_recall_v1", "value": "lock VMR_2", "block_id": "b1"}
    response = bot.slack.click(button, user=ADMIN)
    assert response.status_code == 200
    answer = seen.private("that button is out of date")
    assert answer.user == ADMIN and answer.kind == "response"
    assert simulator.control.stats()["requests_total"] == 0


def test_an_event_nobody_listens_for_is_acknowledged(bot: Bot) -> None:
    event = {
        "type": "event_callback",
        "team_id": TEAM,
        "api_app_id": "A0PEXBOT1",
        "event_id": "Ev0MENTION1",
        "event_time": int(time.time()),
        "event": {"type": "app_mention", "user": ADMIN, "text": "hi", "channel": CHANNEL},
    }
    response = _signed_post(
        bot.url, json.dumps(event).encode(), **{"Content-Type": "application/json"}
    )
    assert response.status_code == 200


# --- response URLs stay out of the log --------------------------------------------------------


def test_response_urls_never_reach_the_log_even_at_debug(
    simulator: Any, slack_api: Any, seen: Seen, tmp_path: Path
) -> None:
    """`pexbot serve` at LOG_LEVEL=DEBUG, a command and a click answered through their response
    URLs: neither URL appears in anything the process logged."""
    port = _free_port()
    env = bot_environment(simulator, slack_api, tmp_path) | {
        "PORT": str(port),
        "LOG_LEVEL": "DEBUG",
    }
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PEXIP_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=keep | env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    slack = SlackRequests(url, SIGNING_SECRET, slack_api.response_url, team=TEAM)
    try:
        wait_until(lambda: _healthy(url), 30, "pexbot serve")
        assert slack.command("conferences", user=ADMIN, channel=CHANNEL).status_code == 200
        listing = seen.private("VMR_1")
        lock = next(b for b in seen.buttons(listing) if b["action_id"] == "conference_lock")
        assert slack.click(lock, user=ADMIN, channel=CHANNEL).status_code == 200
        seen.public(f"<@{ADMIN}> locked")
        unknown = {"action_id": "conference_recall_v1", "value": "x", "block_id": "b"}
        assert slack.click(unknown, user=ADMIN, channel=CHANNEL).status_code == 200
        seen.private("that button is out of date")
        time.sleep(0.5)
    finally:
        slack.close()
        process.terminate()
        output, _ = process.communicate(timeout=20)
    used = {c.params["token"] for c in slack_api.state.calls("response_url")}
    assert len(used) == 3
    assert "DEBUG" in output
    for token in used:
        assert f"/response/{token}" not in output


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
