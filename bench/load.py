"""Signed slash commands sent to the bot's real endpoint, with bounded concurrency.

Each of the `connections` workers holds one HTTP/1.1 keep-alive connection of its own, written
to and read from with asyncio streams (`Connection`), as load generators such as wrk do: an
`httpx.AsyncClient` spent ~0.65 ms of the bench's CPU per request, as much as the bot spent
acknowledging it, and at concurrency 50 the bench's own queue was half of the latency it
reported (bench/README.md). Every request is signed with slack_sdk's `SignatureVerifier`
exactly as Slack signs it. Each command goes to a channel of its own, so its outcome message
can be found at the stand-in.
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
from urllib.parse import urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from bench.fixtures import TEAM, Outcome

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


def content_length(head: bytes) -> int:
    """The Content-Length of an HTTP/1.1 answer, from its status line and headers."""
    status, *lines = head.split(b"\r\n")
    for line in lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ConnectionError(f"no Content-Length in the answer: {status!r}")


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs and reads the answer (status and body;
    the bot's answers always carry a Content-Length)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._authority = parts.netloc
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        return self._streams

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        reader, writer = await self.connect()
        head = [f"POST {path} HTTP/1.1", f"Host: {self._authority}"]
        head += [f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        head = await reader.readuntil(b"\r\n\r\n")
        return int(head.split(maxsplit=2)[1]), await reader.readexactly(content_length(head))

    async def aclose(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._streams = None


class Slash:
    """`async with Slash(...) as slash: await slash.send("mute <id>")`."""

    def __init__(
        self, bot_url: str, secret: str, slack_base: str, user: str, *, connections: int = 1
    ) -> None:
        self._verifier = SignatureVerifier(secret)
        self._slack_base = slack_base
        self.user = user
        self._clients = [Connection(bot_url) for _ in range(connections)]

    def _signed(self, text: str, channel: str) -> tuple[bytes, dict[str, str]]:
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
        return body.encode(), headers

    async def send(self, text: str, worker: int = 0) -> Sent:
        """Send one command; returns once the bot has acknowledged it (HTTP 200)."""
        http = self._clients[worker]
        channel = f"CB{next(_channels):07d}"
        body, headers = self._signed(text, channel)
        began = time.monotonic()
        status, answer = await asyncio.wait_for(http.post("/slack/events", body, headers), 30.0)
        acked = time.monotonic() - began
        if status != 200:
            raise RuntimeError(f"the bot answered HTTP {status}: {answer.decode(errors='replace')}")
        return Sent(channel, began, acked)

    async def connect(self) -> None:
        """Open every connection now, so that no command's time includes opening one."""
        await asyncio.gather(*(client.connect() for client in self._clients))

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
