"""Signed slash commands sent to the bot's real endpoint, with bounded concurrency.

Each of the `connections` workers has its own `httpx.AsyncClient` holding one HTTP/1.1
keep-alive connection (one pool shared by 50 connections costs the bench ~5 ms of CPU per
request, scanning its connections, which on a 2-core machine is CPU the bot does not get).
Every request is signed with slack_sdk's `SignatureVerifier` exactly as Slack signs it. Each
command goes to a channel of its own, so its outcome message can be found at the stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bench.fixtures import Outcome

TEAM = "T0BENCH01"
_SUCCESS = re.compile(r"^<@\w+> (un)?muted ")
_channels = itertools.count(1)


@dataclass(frozen=True)
class Sent:
    """A command sent: its channel, when it left (monotonic) and how long the ack took."""

    channel: str
    sent_at: float
    ack_seconds: float


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
    """No garbage collection in the bench while it is timing (as `timeit` does): its own pauses
    would be counted as the bot's latency. Collected right after."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def succeeded(outcome: Outcome) -> bool:
    """The outcome is the public "<@user> muted/unmuted ..." message."""
    return outcome.method == "chat.postMessage" and bool(_SUCCESS.match(outcome.text))


class Slash:
    """`async with Slash(...) as slash: await slash.send("mute <id>")`."""

    def __init__(
        self, bot_url: str, secret: str, slack_base: str, user: str, *, connections: int = 1
    ) -> None:
        self._verifier = SignatureVerifier(secret)
        self._slack_base = slack_base
        self.user = user
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._clients = [
            httpx.AsyncClient(base_url=bot_url, limits=limits, timeout=30.0)
            for _ in range(connections)
        ]

    def _signed(self, text: str, channel: str) -> tuple[str, dict[str, str]]:
        body = urlencode(
            {
                "command": "/pexip",
                "text": text,
                "user_id": self.user,
                "user_name": self.user.lower(),
                "channel_id": channel,
                "team_id": TEAM,
                "response_url": f"{self._slack_base}/response/{channel}.1",
                "trigger_id": f"trigger-{channel}",
            }
        )
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body) or "",
        }
        return body, headers

    async def send(self, text: str, worker: int = 0) -> Sent:
        """Send one command; returns once the bot has acknowledged it (HTTP 200)."""
        http = self._clients[worker]
        channel = f"CB{next(_channels):07d}"
        body, headers = self._signed(text, channel)
        began = time.monotonic()
        response = await http.post("/slack/events", content=body, headers=headers)
        acked = time.monotonic() - began
        if response.status_code != 200:
            raise RuntimeError(f"the bot answered HTTP {response.status_code}: {response.text}")
        return Sent(channel, began, acked)

    async def send_all(self, texts: Sequence[str], concurrency: int) -> list[Sent]:
        """Send every command, at most `concurrency` awaiting their ack at any moment."""
        queue = iter(texts)
        sent: list[Sent] = []

        async def worker(index: int) -> None:
            for text in queue:
                sent.append(await self.send(text, index))

        if concurrency > len(self._clients):
            raise ValueError(f"this sender has {len(self._clients)} connections, not {concurrency}")
        async with asyncio.TaskGroup() as group:
            for index in range(concurrency):
                group.create_task(worker(index))
        return sent

    async def aclose(self) -> None:
        for http in self._clients:
            await http.aclose()

    async def __aenter__(self) -> Slash:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
