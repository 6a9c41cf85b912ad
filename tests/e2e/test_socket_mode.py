"""Socket Mode: Slack opens a WebSocket (apps.connections.open), sends envelopes, and the bot
acknowledges each at once and answers through the Web API, as in HTTP mode."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from tests.e2e.conftest import Seen
from tests.fixtures.bot import CHANNEL, MODERATOR, TEAM, VIEWER, bot_environment


class SocketModeBot:
    """`pexbot serve` in Socket Mode, on its own event loop in a thread."""

    def __init__(self, settings: Settings) -> None:
        from bot.app import build_runtime

        self.runtime = build_runtime(settings)
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from bot.slack.server import run_socket_mode

        async def main() -> None:
            self._stopping = asyncio.Event()
            await run_socket_mode(self.runtime, self._stopping)

        self._loop.run_until_complete(main())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=10)


@pytest.fixture
def socket_bot(
    simulator: Any, slack_api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    env = bot_environment(simulator, slack_api, tmp_path)
    env.pop("SLACK_SIGNING_SECRET")
    env["SLACK_APP_TOKEN"] = slack_api.state.app_token
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bot = SocketModeBot(Settings.load())
    connections = slack_api.state.socket.connections
    bot.start()
    deadline = time.monotonic() + 10
    while slack_api.state.socket.connections == connections:
        assert time.monotonic() < deadline, "the bot never opened a Socket Mode connection"
        time.sleep(0.02)
    yield slack_api.state.socket
    bot.stop()


def slash(text: str, user: str, slack_api: Any) -> dict[str, Any]:
    return {
        "command": "/pexip",
        "text": text,
        "user_id": user,
        "channel_id": CHANNEL,
        "team_id": TEAM,
        "response_url": slack_api.response_url("sock", channel=CHANNEL, user=user),
        "trigger_id": "trigger-sock",
    }


def test_slash_command_over_socket_mode_is_acked_and_acted_on(
    socket_bot: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    envelope = socket_bot.push("slash_commands", slash('mute "Alice Parkes"', MODERATOR, slack_api))
    ack = socket_bot.wait_for_ack(envelope)
    assert ack.after < 3.0
    seen.public(f"<@{MODERATOR}> muted Alice Parkes")
    assert [c["path"] for c in simulator.control.stats()["commands"]] == [
        "/api/admin/command/v1/participant/mute/"
    ]
    assert slack_api.state.calls("apps.connections.open")


def test_denial_over_socket_mode_is_private(
    socket_bot: Any, slack_api: Any, seen: Seen, simulator: Any
) -> None:
    simulator.control.reset_stats()
    envelope = socket_bot.push("slash_commands", slash("lock VMR_1", VIEWER, slack_api))
    socket_bot.wait_for_ack(envelope)
    seen.private("you need the `lock` permission")
    assert simulator.control.stats()["requests_total"] == 0
