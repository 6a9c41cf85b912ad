"""The fixtures process: the Pexip simulator and the Slack Web API stand-in.

They run in a child process, `python -m bench.fixtures` (each under uvicorn in its own thread),
so their work does not share the bench's GIL while it is timing requests. The bench talks to the
child in JSON lines over its stdin and stdout: when did
the outcome message of each command (told apart by channel) reach the stand-in, and how many
Slack API calls were made. The simulator itself is driven over HTTP (`SimulatorControl`).

The stand-in notes `time.monotonic()` as it records each call. On Linux that is CLOCK_MONOTONIC,
one clock for the whole machine, so the bench can subtract its own send times from it;
`Fixtures.start` checks this and refuses to run where it does not hold.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bench.botprocess import python_path
from bot.sandbox.serve import BackgroundServer
from bot.sandbox.simulator import create_app
from bot.sandbox.slack_api import SlackStandIn
from bot.sandbox.slack_state import SlackState

OUTCOME_METHODS = frozenset({"chat.postMessage", "response_url"})


@dataclass(frozen=True)
class Outcome:
    """The first message the bot sent to a channel: when it reached the stand-in, and what."""

    at: float
    method: str
    text: str


@dataclass(frozen=True)
class Urls:
    simulator: str
    slack_api: str
    slack_base: str
    bot_token: str


TEAM = "T0BENCH01"
"""The Slack workspace of the bench: auth.test answers it, the load sender speaks for it."""


class _WatchedState(SlackState):
    """The stand-in's state, also keeping the first message per channel and waking waiters.

    Response URLs are `<base>/response/<channel>.<n>`: the channel is read back from the token,
    so a private reply also counts as the outcome of the command sent in that channel.
    """

    def __init__(self) -> None:
        self.arrived = threading.Condition()
        self.outcomes: dict[str, Outcome] = {}
        super().__init__(team_id=TEAM)  # the workspace the load sender speaks for

    def record(self, method: str, params: dict[str, Any]) -> tuple[int, float | None, str | None]:
        answer = super().record(method, params)
        at = time.monotonic()
        if method in OUTCOME_METHODS:
            channel = params.get("channel") or str(params.get("token", "")).partition(".")[0]
            with self.arrived:
                if channel not in self.outcomes:
                    self.outcomes[channel] = Outcome(at, method, str(params.get("text") or ""))
                self.arrived.notify_all()
        return answer

    def response_context(self, token: str) -> tuple[str | None, str | None]:
        known = super().response_context(token)
        return known if known != (None, None) else (token.partition(".")[0], None)

    def wait(self, channels: list[str], timeout: float) -> dict[str, Outcome]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not all(c in self.outcomes for c in channels):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(left)
            return {c: self.outcomes[c] for c in channels if c in self.outcomes}

    def forget(self) -> None:
        with self.arrived:
            self.outcomes.clear()
        self.reset()


def _answer(state: _WatchedState, request: list[Any]) -> Any:
    kind = request[0]
    if kind == "clock":
        return time.monotonic()
    if kind == "wait":
        found = state.wait(list(request[1]), float(request[2]))
        return {channel: asdict(outcome) for channel, outcome in found.items()}
    if kind == "calls":
        return dict(Counter(call.method for call in state.calls()))
    if kind == "messages":  # channel messages posted or edited: when, which, what
        return [
            {
                "method": call.method,
                "at": call.at,
                "channel": call.params.get("channel"),
                "ts": call.params.get("ts"),
                "text": str(call.params.get("text") or ""),
                "status": call.status,
            }
            for call in state.calls()
            if call.method in ("chat.postMessage", "chat.update")
        ]
    if kind == "forget":
        state.forget()
        return None
    raise ValueError(f"unknown fixtures request {kind!r}")


def main() -> None:
    """The child process: start both servers, then answer JSON lines on stdin until EOF."""
    state = _WatchedState()
    with SlackStandIn(state) as slack, BackgroundServer(create_app()) as simulator:
        urls = Urls(simulator.url, slack.url, state.base_url, state.bot_token)
        _reply(asdict(urls))
        for line in sys.stdin:
            _reply(_answer(state, json.loads(line)))


def _reply(value: Any) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


class Fixtures:
    """`with Fixtures() as fixtures: fixtures.urls.simulator` — the child process's servers."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self.urls: Urls | None = None

    def start(self) -> Fixtures:
        env = {**os.environ, "PYTHONPATH": python_path()}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.fixtures"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.urls = Urls(**self._read())
        self._check_clock()
        return self

    def _check_clock(self) -> None:
        before = time.monotonic()
        theirs = self._call("clock")
        after = time.monotonic()
        if not before <= theirs <= after:
            raise RuntimeError(
                "time.monotonic() is not shared between processes on this system; "
                "the end-to-end figures cannot be measured here"
            )

    def _read(self) -> Any:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the fixtures process (simulator, Slack stand-in) stopped")
        return json.loads(line)

    def _call(self, *request: Any) -> Any:
        assert self._process is not None and self._process.stdin is not None
        with self._lock:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            return self._read()

    def outcomes(self, channels: Iterable[str], timeout: float) -> dict[str, Outcome]:
        """Blocks until every channel has its outcome message, or `timeout` seconds."""
        found = self._call("wait", list(channels), timeout)
        return {channel: Outcome(**outcome) for channel, outcome in found.items()}

    async def outcomes_async(
        self, channels: Iterable[str], wait_seconds: float
    ) -> dict[str, Outcome]:
        return await asyncio.to_thread(self.outcomes, list(channels), wait_seconds)

    def slack_calls(self) -> dict[str, int]:
        """Slack API calls since the last `forget`, by method."""
        calls: dict[str, int] = self._call("calls")
        return calls

    def messages(self) -> list[dict[str, Any]]:
        """chat.postMessage and chat.update calls since the last `forget`: method, `at`
        (monotonic, the bench's clock), channel, ts, text, status."""
        found: list[dict[str, Any]] = self._call("messages")
        return found

    def forget(self) -> None:
        """Drop what the stand-in recorded (keeps its memory flat over a long run)."""
        self._call("forget")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            self._process.wait(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> Fixtures:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
