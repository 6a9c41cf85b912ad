"""Socket Mode (INTERFACE §3) against the stand-in that speaks Slack's protocol
(`bot.sandbox.slack_socket`): every envelope acknowledged with its id, a redelivery never acted on
twice (on the same link, on a new one, across a reconnect race, at another process), `disconnect`
and server closes answered with a new link, backing off when Slack keeps refusing, stopping with
a message naming SLACK_APP_TOKEN when the token or the link is refused, and SIGTERM drained."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.config import Settings
from tests.e2e.conftest import Seen, audit_entries, node_commands, wait_until
from tests.fixtures.bot import ADMIN, CHANNEL, MODERATOR, TEAM, VIEWER, bot_environment

LOCK = "conference/lock"


class SocketModeBot:
    """`pexbot serve` in Socket Mode, on its own event loop in a thread."""

    def __init__(self, settings: Settings) -> None:
        from bot.app import build_runtime

        self.settings = settings
        self.runtime = build_runtime(settings)
        self.failure: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from bot.slack.server import run_socket_mode

        async def main() -> None:
            self._stopping = asyncio.Event()
            await run_socket_mode(self.runtime, self._stopping)

        try:
            self._loop.run_until_complete(main())
        except BaseException as exc:
            self.failure = exc

    def start(self) -> SocketModeBot:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=15)


def socket_settings(
    simulator: Any, slack_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str
) -> Settings:
    values = bot_environment(simulator, slack_api, tmp_path)
    values.pop("SLACK_SIGNING_SECRET")
    values["SLACK_APP_TOKEN"] = slack_api.state.app_token
    for name, value in (values | env).items():
        monkeypatch.setenv(name, value)
    return Settings.load()


@pytest.fixture
def brisk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoffs of a tenth of a second, so that tests see several."""
    monkeypatch.setattr("bot.slack.socket_mode.FIRST_BACKOFF", 0.1)
    monkeypatch.setattr("bot.slack.socket_mode.MAX_BACKOFF", 0.8)


@pytest.fixture
def start_bot(
    simulator: Any, slack_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, brisk: None
) -> Iterator[Callable[..., SocketModeBot]]:
    started: list[SocketModeBot] = []

    def start(*, wait: bool = True, **env: str) -> SocketModeBot:
        hub = slack_api.state.socket
        links = hub.connections
        bot = SocketModeBot(socket_settings(simulator, slack_api, tmp_path, monkeypatch, **env))
        started.append(bot.start())
        if wait:
            wait_until(lambda: hub.connections > links, 10, "a Socket Mode link")
        return bot

    yield start
    for bot in started:
        bot.stop()


@pytest.fixture
def socket_bot(start_bot: Callable[..., SocketModeBot]) -> SocketModeBot:
    return start_bot()


@pytest.fixture
def hub(slack_api: Any) -> Any:
    return slack_api.state.socket


def slash(text: str, user: str, slack_api: Any, token: str = "sock") -> dict[str, Any]:
    return {
        "command": "/pexip",
        "text": text,
        "user_id": user,
        "channel_id": CHANNEL,
        "team_id": TEAM,
        "response_url": slack_api.response_url(token, channel=CHANNEL, user=user),
        "trigger_id": f"trigger-{token}",
    }


def click(action_id: str, value: str, user: str, slack_api: Any) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "team": {"id": TEAM},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "channel_id": CHANNEL},
        "trigger_id": "trigger-click",
        "response_url": slack_api.response_url("click", channel=CHANNEL, user=user),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": TEAM,
        "api_app_id": "A0PEXBOT1",
        "event_id": f"Ev{kind}",
        "event_time": int(time.time()),
        "event": {"type": kind, "user": MODERATOR, **fields},
    }


def locked_once(bot: SocketModeBot, seen: Seen, simulator: Any) -> None:
    """VMR_2 was locked once: one command at the node, one audit row, one post."""
    seen.public(f"<@{MODERATOR}> locked VMR_2")
    time.sleep(0.5)  # room for a second, wrongly made, lock to show
    assert len(node_commands(simulator, LOCK)) == 1
    assert [e.command for e in audit_entries(bot)] == ["lock"]
    assert len([m for m in seen.in_channel() if "locked VMR_2" in m.text]) == 1


# --- acknowledged and acted on --------------------------------------------------------------


def test_slash_command_over_socket_mode_is_acked_and_acted_on(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    envelope = hub.push("slash_commands", slash('mute "Alice Parkes"', MODERATOR, slack_api))
    ack = hub.wait_for_ack(envelope)
    assert ack.after < 3.0
    seen.public(f"<@{MODERATOR}> muted Alice Parkes")
    assert [c["path"] for c in simulator.control.stats()["commands"]] == [
        "/api/admin/command/v1/participant/mute/"
    ]
    opened = slack_api.state.calls("apps.connections.open")
    assert len(opened) == 1 and "token" not in opened[0].params


def test_denial_over_socket_mode_is_private(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    simulator.control.reset_stats()
    envelope = hub.push("slash_commands", slash("lock VMR_1", VIEWER, slack_api))
    hub.wait_for_ack(envelope)
    seen.private("you need the `lock` permission")
    assert simulator.control.stats()["requests_total"] == 0


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("events_api", event("app_mention", text="<@U0BOT0001> hello", channel=CHANNEL)),
        ("events_api", event("app_home_opened", tab="home", channel="D0HOME001")),
        ("events_api", event("member_joined_channel", channel=CHANNEL)),
        ("interactive", {"type": "shortcut", "callback_id": "old_shortcut", "user": {"id": ADMIN}}),
        ("slash_commands", {"command": "/pexip-old", "text": "", "user_id": ADMIN}),
        ("future_kind", {"anything": True}),
    ],
    ids=[
        "app_mention",
        "app_home_opened",
        "unsubscribed_event",
        "shortcut",
        "other_command",
        "unknown_type",
    ],
)
def test_every_envelope_is_acknowledged_with_its_id_whatever_its_type(
    socket_bot: SocketModeBot, hub: Any, seen: Seen, simulator: Any, kind: str, payload: Any
) -> None:
    envelope = hub.push(kind, payload)
    assert hub.wait_for_ack(envelope, timeout=3).after < 3.0
    assert simulator.control.stats()["requests_total"] == 0


def test_an_unknown_button_is_acknowledged_and_said_to_be_out_of_date(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    envelope = hub.push(
        "interactive", click("conference_recall_v1", "lock VMR_2", ADMIN, slack_api)
    )
    hub.wait_for_ack(envelope, timeout=3)
    answer = seen.private("that button is out of date")
    assert answer.user == ADMIN and not answer.replace_original
    assert simulator.control.stats()["requests_total"] == 0


def test_a_payload_not_shaped_like_slacks_is_acknowledged_and_nothing_runs(
    socket_bot: SocketModeBot,
    hub: Any,
    slack_api: Any,
    seen: Seen,
    simulator: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = click("conference_lock", "lock VMR_2", ADMIN, slack_api) | {"user": None}
    no_action = click("conference_lock", "lock VMR_2", ADMIN, slack_api) | {"actions": [{}]}
    with caplog.at_level(logging.WARNING):
        for payload in (broken, no_action, ["not", "an", "object"]):
            hub.wait_for_ack(hub.push("interactive", payload), timeout=3)
        time.sleep(0.3)
    assert simulator.control.stats()["requests_total"] == 0
    assert seen.everything() == []
    refusals = [r for r in caplog.records if "payload that is not Slack's" in r.getMessage()]
    assert len(refusals) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- exactly once ------------------------------------------------------------------------------


def test_a_redelivered_envelope_is_acknowledged_and_not_acted_on_again(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
    hub.wait_for_ack(envelope)
    seen.public(f"<@{MODERATOR}> locked VMR_2")
    hub.redeliver(envelope)
    wait_until(lambda: len([a for a in hub.acks() if a.envelope_id == envelope]) == 2, 3, "2 acks")
    locked_once(socket_bot, seen, simulator)


def test_an_event_retry_is_acknowledged_and_not_acted_on(
    socket_bot: SocketModeBot, hub: Any, seen: Seen, simulator: Any
) -> None:
    envelope = hub.push("events_api", event("app_mention", text="hi", channel=CHANNEL))
    hub.wait_for_ack(envelope)
    hub.redeliver(envelope)
    wait_until(lambda: len([a for a in hub.acks() if a.envelope_id == envelope]) == 2, 3, "2 acks")


def test_a_redelivery_on_a_new_link_is_not_acted_on_again(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
    hub.wait_for_ack(envelope)
    seen.public(f"<@{MODERATOR}> locked VMR_2")
    hub.close_links()
    wait_until(lambda: hub.connections == 2 and hub.open_links(), 5, "a new link")
    hub.redeliver(envelope)
    wait_until(
        lambda: [a.link for a in hub.acks() if a.envelope_id == envelope] == [1, 2],
        3,
        "the ack on link 2",
    )
    locked_once(socket_bot, seen, simulator)


def test_a_redelivery_racing_the_original_across_a_reconnect_acts_once(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    """Slack closes the link right after sending the envelope, before the app can acknowledge
    it, and sends it again on the next link while the app is still working on the first."""
    simulator.control.add_fault(path="/api/admin/command/", latency=0.5)
    hub.close_after_delivery()
    envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
    ack = hub.wait_for_ack(envelope, timeout=5)
    assert hub.deliveries(envelope) == [1, 2] and ack.link == 2
    locked_once(socket_bot, seen, simulator)


@pytest.mark.postgres
def test_a_redelivery_to_another_process_is_not_acted_on_again(
    start_bot: Callable[..., SocketModeBot],
    hub: Any,
    slack_api: Any,
    seen: Seen,
    simulator: Any,
) -> None:
    """Two processes (each its own runtime and database engine) share a PostgreSQL DATABASE_URL
    (with SQLite one serve owns the file, INTERFACE §10); Slack sends the envelope to one and,
    unacknowledged in its eyes, again to the other."""
    url = os.environ.get("PEXBOT_TEST_POSTGRES_URL", "")
    if not url:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    import sqlalchemy

    from bot.store.database import database_url

    engine = sqlalchemy.create_engine(database_url(url))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP TABLE IF EXISTS seen_once"))
        connection.execute(sqlalchemy.text("DROP TABLE IF EXISTS audit_log"))
    engine.dispose()
    first = start_bot(DATABASE_URL=url)
    second = start_bot(DATABASE_URL=url)
    assert hub.open_links() == [1, 2]
    envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
    hub.wait_for_ack(envelope)
    hub.redeliver(envelope)
    wait_until(
        lambda: sorted(a.link for a in hub.acks() if a.envelope_id == envelope) == [1, 2],
        3,
        "acks from both",
    )
    locked_once(first, seen, simulator)
    assert second.running


# --- links: disconnect, close, backoff, refusal ----------------------------------------------


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
def test_slack_asking_for_a_new_link_gets_one_at_once_from_a_fresh_url(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen, reason: str
) -> None:
    hub.disconnect(reason)
    wait_until(lambda: hub.connections == 2 and hub.open_links() == [2], 3, "the new link")
    assert len(slack_api.state.calls("apps.connections.open")) == 2
    envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
    assert hub.wait_for_ack(envelope).link == 2
    seen.public(f"<@{MODERATOR}> locked VMR_2")


def test_a_server_close_is_followed_by_a_new_link_and_unacknowledged_envelopes_arrive_on_it(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any, seen: Seen
) -> None:
    hub.close_links()
    wait_until(lambda: hub.open_links() == [2], 5, "the new link")
    envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
    hub.wait_for_ack(envelope)
    seen.public(f"<@{MODERATOR}> locked VMR_2")


def test_pings_are_answered_and_the_link_stays_up(socket_bot: SocketModeBot, hub: Any) -> None:
    hub.set_ping_interval(0.1)
    wait_until(lambda: hub.pongs >= 5, 5, "5 pongs")
    assert hub.connections == 1 and hub.open_links() == [1]


def test_too_many_websockets_is_met_with_a_growing_jittered_backoff(
    start_bot: Callable[..., SocketModeBot], hub: Any, slack_api: Any, seen: Seen
) -> None:
    hub.refuse_next("too_many_websockets", times=4)
    start_bot(wait=False)
    wait_until(lambda: hub.open_links(), 10, "a link once Slack stops refusing")
    opened = [c.at for c in slack_api.state.calls("apps.connections.open")]
    assert len(opened) == 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(opened)]
    for n, gap in enumerate(gaps):  # 0.1 s doubled each time, between half and all of it
        assert 0.1 * 2**n / 2 <= gap <= 0.1 * 2**n + 0.3, gaps
    envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
    hub.wait_for_ack(envelope)


def test_a_failing_apps_connections_open_is_retried_with_backoff(
    start_bot: Callable[..., SocketModeBot], hub: Any, slack_api: Any
) -> None:
    slack_api.state.fail("apps.connections.open", 500, times=2)
    slack_api.state.fail("apps.connections.open", 429, retry_after=1)
    began = time.monotonic()
    start_bot(wait=False)
    wait_until(lambda: hub.open_links(), 10, "a link")
    opened = [c.at for c in slack_api.state.calls("apps.connections.open")]
    assert len(opened) == 4
    assert opened[3] - opened[2] >= 1.0  # Retry-After honoured
    assert opened[1] - opened[0] >= 0.05 and time.monotonic() - began < 5


@pytest.mark.parametrize("code", ["invalid_auth", "not_authed", "account_inactive"])
def test_a_refused_app_token_stops_socket_mode_naming_slack_app_token(
    start_bot: Callable[..., SocketModeBot], slack_api: Any, code: str
) -> None:
    slack_api.state.fail("apps.connections.open", error=code)
    bot = start_bot(wait=False)
    bot.join(5)
    assert not bot.running
    assert "SLACK_APP_TOKEN" in str(bot.failure) and code in str(bot.failure)
    assert len(slack_api.state.calls("apps.connections.open")) == 1


def test_link_disabled_stops_socket_mode_naming_slack_app_token(
    socket_bot: SocketModeBot, hub: Any, slack_api: Any
) -> None:
    hub.disconnect("link_disabled")
    socket_bot.join(5)
    assert not socket_bot.running
    assert "SLACK_APP_TOKEN" in str(socket_bot.failure)
    assert "link_disabled" in str(socket_bot.failure)
    assert len(slack_api.state.calls("apps.connections.open")) == 1


def test_stopping_while_slack_is_slow_to_hand_out_a_link_stops_at_once(
    start_bot: Callable[..., SocketModeBot], slack_api: Any
) -> None:
    slack_api.state.set_latency("apps.connections.open", 4)
    bot = start_bot(wait=False)
    time.sleep(0.5)  # asking Slack for a link, still waiting
    began = time.monotonic()
    bot.stop()
    assert not bot.running and bot.failure is None
    assert time.monotonic() - began < 3


# --- the real process: exit status, SIGTERM ---------------------------------------------------


def pexbot_serve(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PEXIP_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=keep | env | {"LOG_LEVEL": "INFO"},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def socket_environment(simulator: Any, slack_api: Any, tmp_path: Path) -> dict[str, str]:
    env = bot_environment(simulator, slack_api, tmp_path)
    env.pop("SLACK_SIGNING_SECRET")
    return env | {"SLACK_APP_TOKEN": slack_api.state.app_token}


def test_serve_exits_non_zero_naming_slack_app_token_when_slack_refuses_it(
    simulator: Any, slack_api: Any, tmp_path: Path
) -> None:
    slack_api.state.fail("apps.connections.open", error="invalid_auth")
    process = pexbot_serve(socket_environment(simulator, slack_api, tmp_path), tmp_path)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "SLACK_APP_TOKEN" in stderr and "invalid_auth" in stderr
    assert "Traceback" not in stderr


def test_sigterm_finishes_the_acknowledged_command_before_exiting(
    simulator: Any, slack_api: Any, seen: Seen, tmp_path: Path, hub: Any
) -> None:
    simulator.control.add_fault(path="/api/admin/command/", latency=1.0)
    env = socket_environment(simulator, slack_api, tmp_path)
    process = pexbot_serve(env, tmp_path)
    try:
        wait_until(lambda: hub.open_links(), 30, "the process's link")
        envelope = hub.push("slash_commands", slash("lock VMR_2", MODERATOR, slack_api))
        hub.wait_for_ack(envelope)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert seen.public(f"<@{MODERATOR}> locked VMR_2", timeout=0.5)
    assert len(node_commands(simulator, LOCK)) == 1

    stopped = SimpleNamespace(settings=SimpleNamespace(database_url=env["DATABASE_URL"]))
    assert [(e.command, e.outcome.value) for e in audit_entries(stopped)] == [("lock", "success")]
    assert "Traceback" not in stderr


def test_in_socket_mode_the_event_sink_is_served_on_port(
    start_bot: Callable[..., SocketModeBot], tmp_path: Path, seen: Seen
) -> None:
    import socket

    import httpx

    from tests.e2e.test_live_meetings import EVENTS, LIVE, WATCHED, said

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    policy = tmp_path / "watched.yaml"
    policy.write_text(WATCHED)
    start_bot(PORT=str(port), PERMISSIONS_FILE=str(policy), **EVENTS)
    data = {"name": "VMR_7", "service_type": "conference", "is_locked": False,
            "is_started": True, "guests_muted": False, "start_time": 1.0,
            "tag": ""}  # fmt: skip
    envelope = {"node": "10.0.1.11", "seq": 2, "version": 2, "time": time.time(),
                "event": "conference_started", "data": data}  # fmt: skip
    auth = (EVENTS["PEXIP_EVENTS_USERNAME"], EVENTS["PEXIP_EVENTS_PASSWORD"])
    url = f"http://127.0.0.1:{port}/pexip/events"
    deadline = time.monotonic() + 10
    while True:
        try:
            answer = httpx.post(url, json=envelope, auth=auth)
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "nothing listens on PORT"
            time.sleep(0.05)
    assert answer.status_code == 200
    assert httpx.post(url, json=envelope, auth=("x", "y")).status_code == 401
    seen.wait(lambda m: m.channel == LIVE and "VMR_7 has started" in said(m))
