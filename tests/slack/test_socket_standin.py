"""The Socket Mode stand-in (`bot.sandbox.slack_socket`) behaves like Slack, point by point, as a
plain WebSocket client sees it: the app token in the Authorization header only, a fresh
single-use URL per link, hello first, retry fields on `events_api` only, `disconnect` with each
reason, and redelivery of what was not acknowledged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bot.sandbox.slack_api import SlackStandIn


def open_url(slack: SlackStandIn) -> str:
    reply = httpx.post(
        slack.url + "apps.connections.open",
        headers={"Authorization": f"Bearer {slack.state.app_token}"},
    ).json()
    assert reply["ok"], reply
    return str(reply["url"])


@pytest.fixture
def link(slack_api: SlackStandIn) -> Iterator[ClientConnection]:
    with connect(open_url(slack_api), open_timeout=5) as socket:
        assert receive(socket)["type"] == "hello"
        yield socket


def receive(socket: ClientConnection, timeout: float = 3.0) -> dict[str, Any]:
    message = json.loads(socket.recv(timeout))
    assert isinstance(message, dict)
    return message


def test_the_app_token_is_taken_from_the_authorization_header_only(
    slack_api: SlackStandIn,
) -> None:
    in_form = httpx.post(
        slack_api.url + "apps.connections.open", data={"token": slack_api.state.app_token}
    ).json()
    assert in_form == {"ok": False, "error": "not_authed"}
    bot_token = httpx.post(
        slack_api.url + "apps.connections.open",
        headers={"Authorization": f"Bearer {slack_api.bot_token}"},
    ).json()
    assert bot_token == {"ok": False, "error": "not_allowed_token_type"}
    assert open_url(slack_api).startswith("ws://")


def test_each_url_is_fresh_and_opens_one_link_once(slack_api: SlackStandIn) -> None:
    first, second = open_url(slack_api), open_url(slack_api)
    assert first != second
    with connect(first, open_timeout=5) as socket:
        hello = receive(socket)
        assert hello["type"] == "hello" and hello["num_connections"] == 1
    with pytest.raises(InvalidStatus), connect(first, open_timeout=5):
        pass  # used already
    with connect(second, open_timeout=5) as socket:
        assert receive(socket)["type"] == "hello"


def test_retry_fields_are_on_events_api_envelopes_only(
    slack_api: SlackStandIn, link: ClientConnection
) -> None:
    hub = slack_api.state.socket
    hub.push("slash_commands", {"command": "/pexip", "text": "help"})
    hub.push("interactive", {"type": "block_actions"})
    hub.push("events_api", {"type": "event_callback", "event": {"type": "app_mention"}})
    slash, click, event = (receive(link) for _ in range(3))
    for envelope in (slash, click):
        assert "retry_attempt" not in envelope and "retry_reason" not in envelope
        assert envelope["accepts_response_payload"] is True
    assert event["retry_attempt"] == 0 and event["retry_reason"] == ""
    assert event["accepts_response_payload"] is False


def test_an_unacknowledged_envelope_is_delivered_again_on_the_next_link(
    slack_api: SlackStandIn,
) -> None:
    hub = slack_api.state.socket
    with connect(open_url(slack_api), open_timeout=5) as socket:
        receive(socket)
        slash_id = hub.push("slash_commands", {"command": "/pexip", "text": "help"})
        event_id = hub.push("events_api", {"type": "event_callback", "event": {}})
        acked_id = hub.push("slash_commands", {"command": "/pexip", "text": "whoami"})
        for _ in range(3):
            envelope = receive(socket)
        socket.send(json.dumps({"envelope_id": acked_id}))
        hub.wait_for_ack(acked_id)
    with connect(open_url(slack_api), open_timeout=5) as socket:
        assert receive(socket)["type"] == "hello"
        again = [receive(socket), receive(socket)]
    assert [e["envelope_id"] for e in again] == [slash_id, event_id]
    assert "retry_attempt" not in again[0]
    assert again[1]["retry_attempt"] == 1 and again[1]["retry_reason"] == "timeout"
    assert envelope["envelope_id"] == acked_id


@pytest.mark.parametrize("reason", ["refresh_requested", "link_disabled", "too_many_websockets"])
def test_disconnect_says_why_and_closes_the_link(
    slack_api: SlackStandIn, link: ClientConnection, reason: str
) -> None:
    slack_api.state.socket.disconnect(reason)
    assert receive(link) == {"type": "disconnect", "reason": reason}
    with pytest.raises(ConnectionClosed):
        link.recv(3)


def test_a_warning_leaves_the_link_open(slack_api: SlackStandIn, link: ClientConnection) -> None:
    hub = slack_api.state.socket
    hub.disconnect("warning")
    assert receive(link) == {"type": "disconnect", "reason": "warning"}
    envelope_id = hub.push("slash_commands", {"command": "/pexip", "text": "help"})
    assert receive(link)["envelope_id"] == envelope_id


def test_after_link_disabled_every_new_link_is_refused(
    slack_api: SlackStandIn, link: ClientConnection
) -> None:
    slack_api.state.socket.disconnect("link_disabled")
    with connect(open_url(slack_api), open_timeout=5) as socket:
        assert receive(socket) == {"type": "disconnect", "reason": "link_disabled"}


def test_too_many_websockets_refuses_a_new_link_without_hello(slack_api: SlackStandIn) -> None:
    slack_api.state.socket.refuse_next("too_many_websockets")
    with connect(open_url(slack_api), open_timeout=5) as socket:
        assert receive(socket) == {"type": "disconnect", "reason": "too_many_websockets"}
        with pytest.raises(ConnectionClosed):
            socket.recv(3)
    with connect(open_url(slack_api), open_timeout=5) as socket:
        assert receive(socket)["type"] == "hello"


def test_a_server_close_ends_the_link_without_a_word(
    slack_api: SlackStandIn, link: ClientConnection
) -> None:
    slack_api.state.socket.close_links()
    with pytest.raises(ConnectionClosed):
        link.recv(3)


def test_slack_pings_each_link(slack_api: SlackStandIn, link: ClientConnection) -> None:
    hub = slack_api.state.socket
    hub.set_ping_interval(0.05)
    deadline = 50
    while hub.pongs < 3 and deadline:  # the client answers pings while it waits to receive
        with pytest.raises(TimeoutError):
            link.recv(0.1)
        deadline -= 1
    assert hub.pongs >= 3
