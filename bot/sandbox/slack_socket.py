"""Socket Mode for the Slack stand-in, as Slack speaks it, on a `websockets` server of its own.

Slack's side of the protocol, point by point:
- `apps.connections.open` (`bot.sandbox.slack_api`, app token in the Authorization header only)
  hands out a fresh URL per link; each URL opens one link, once.
- A link starts with `hello`; Slack pings it (a WebSocket ping frame) every `ping_interval`
  seconds and closes it when no pong comes back.
- An envelope is `{"envelope_id", "type", "payload", "accepts_response_payload"}`, plus
  `retry_attempt` / `retry_reason` on `events_api` only; the app acknowledges with
  `{"envelope_id", "payload"?}`. Envelopes are spread over the open links in turn.
- An envelope not acknowledged when its link closes is delivered again, same `envelope_id`, on
  the next link (an `events_api` one with `retry_attempt` + 1).
- What tests make Slack do: `disconnect(reason)` (`refresh_requested`, `warning`,
  `link_disabled`, `too_many_websockets`; all but `warning` then close the link),
  `close_links()` (a server close, no message), `refuse_next(reason, times)` (new links are
  told `reason` and closed), `close_after_delivery()` (the next envelope's link closes right
  after sending it, before any ack can arrive: a redelivery race), `redeliver(envelope_id)`.

The server runs its own event loop in a thread; every method here is safe from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

CLOSES_THE_LINK = ("refresh_requested", "link_disabled", "too_many_websockets")


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    after: float  # seconds between sending the envelope (last time) and receiving its ack
    link: int


@dataclass
class _Link:
    number: int
    socket: ServerConnection
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # unacknowledged, by id
    close_after_next: bool = False


class SocketHub:
    """Slack's Socket Mode servers, for one app."""

    def __init__(self, *, host: str = "127.0.0.1", app_id: str = "A0PEXBOT1") -> None:
        self.host = host
        self.port = 0
        self.app_id = app_id
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.reset_state()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> SocketHub:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Socket Mode stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._call(self._shutdown())
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._server = await serve(
                self._serve,
                self.host,
                0,
                process_request=self._admit,
                ping_interval=None,  # pings are `_ping`'s, at the pace a test sets
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            await self._server.wait_closed()

        asyncio.run(main())

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()

    def _call(self, work: Any, timeout: float = 10.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    # --- what tests and the Web API stand-in use -----------------------------------------

    def reset_state(self) -> None:
        """Forget links, tickets, envelopes, acks and what was set (links stay open)."""
        with self._lock:
            self._tickets: set[str] = set()
            self._links: dict[int, _Link] = {}
            self._pending: deque[dict[str, Any]] = deque()
            self._last_link: dict[str, int] = {}
            self._envelopes: dict[str, dict[str, Any]] = {}  # as last sent, by id
            self._sent_at: dict[str, float] = {}
            self._acks: list[Ack] = []
            self._deliveries: list[tuple[str, int]] = []
            self._refusals: deque[str] = deque()
            self._disabled = False
            self._close_after_delivery = 0
            self._turn = itertools.count()
            self.ping_interval = 5.0
            self.connections = 0
            self.pongs = 0

    def reset(self) -> None:
        """Close every link (without redelivery) and forget everything."""
        if self._loop is not None:
            self._call(self._close_all(code=1001, redeliver=False))
        self.reset_state()

    def new_url(self) -> str:
        """A fresh URL for `apps.connections.open`: it opens one link, once."""
        ticket = secrets.token_urlsafe(12)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def push(self, kind: str, payload: dict[str, Any]) -> str:
        """Send an envelope (`slash_commands`, `interactive`, `events_api`, ...) on an open
        link (or the next one); returns its id."""
        envelope_id = f"{secrets.token_hex(4)}-{next(self._ids):04d}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": 0, "retry_reason": ""}
        with self._lock:
            self._pending.append(envelope)
        self._call(self._flush())
        return envelope_id

    def redeliver(self, envelope_id: str) -> None:
        """Send an envelope again, on another link when there is one (as Slack does when it got
        no acknowledgement in time)."""
        self._call(self._redeliver(envelope_id))

    def disconnect(self, reason: str) -> None:
        """Send `disconnect` with `reason` on every open link; all reasons but `warning` close
        the link shortly after. `link_disabled` also refuses every later link."""
        if reason == "link_disabled":
            with self._lock:
                self._disabled = True
        self._call(self._disconnect_all(reason))

    def close_links(self, code: int = 1001) -> None:
        """Slack closes every open link, without a word."""
        self._call(self._close_all(code=code, redeliver=True))

    def refuse_next(self, reason: str = "too_many_websockets", times: int = 1) -> None:
        """The next `times` links are told `disconnect` `reason` at once, and closed."""
        with self._lock:
            self._refusals.extend([reason] * times)

    def close_after_delivery(self, times: int = 1) -> None:
        """The link that carries each of the next `times` envelopes closes right after sending
        it, before an acknowledgement can arrive."""
        with self._lock:
            self._close_after_delivery += times

    def set_ping_interval(self, seconds: float) -> None:
        with self._lock:
            self.ping_interval = seconds

    def acks(self) -> list[Ack]:
        with self._lock:
            return list(self._acks)

    def deliveries(self, envelope_id: str | None = None) -> list[int]:
        """The links (by number) each delivery of the envelope went out on, in order."""
        with self._lock:
            return [link for eid, link in self._deliveries if envelope_id in (None, eid)]

    def open_links(self) -> list[int]:
        with self._lock:
            return sorted(self._links)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in self.acks():
                if ack.envelope_id == envelope_id:
                    return ack
            time.sleep(0.01)
        raise TimeoutError(f"no ack for {envelope_id} within {timeout}s")

    # --- Slack's side of each link --------------------------------------------------------

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Only a URL from apps.connections.open, used once, opens a link."""
        url = urlsplit(request.path)
        ticket = parse_qs(url.query).get("ticket", [""])[0]
        with self._lock:
            valid = url.path == "/link/" and ticket in self._tickets
            self._tickets.discard(ticket)
        if valid:
            return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used link URL\n")

    async def _serve(self, socket: ServerConnection) -> None:
        with self._lock:
            refusal = "link_disabled" if self._disabled else None
            if refusal is None and self._refusals:
                refusal = self._refusals.popleft()
        if refusal is not None:
            with contextlib.suppress(ConnectionClosed):
                await socket.send(json.dumps({"type": "disconnect", "reason": refusal}))
                await socket.close(1000)
            return
        with self._lock:
            self.connections += 1
            link = _Link(self.connections, socket)
            self._links[link.number] = link
        pinging = asyncio.create_task(self._ping(link))
        try:
            await socket.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self._links),
                        "debug_info": {
                            "host": "applink-stand-in",
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.app_id},
                    }
                )
            )
            await self._flush()
            async for raw in socket:
                with contextlib.suppress(ValueError):
                    self._record(link, json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            pinging.cancel()
            self._forget(link, redeliver=True)
            await self._flush()

    async def _ping(self, link: _Link) -> None:
        """Slack's pings: a link that does not answer one within the interval is closed."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.05)  # a new interval set by a test applies at once
            with self._lock:
                interval = self.ping_interval
            if time.monotonic() - last < interval:
                continue
            last = time.monotonic()
            try:
                pong = await link.socket.ping()
                await asyncio.wait_for(pong, interval)
            except TimeoutError:
                await link.socket.close(1011, "no pong")
                return
            except ConnectionClosed:
                return
            with self._lock:
                self.pongs += 1

    def _record(self, link: _Link, message: Any) -> None:
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        envelope_id = str(message["envelope_id"])
        payload = message.get("payload")
        with self._lock:
            link.sent.pop(envelope_id, None)
            after = time.monotonic() - self._sent_at.get(envelope_id, time.monotonic())
            shown = payload if isinstance(payload, dict) else None
            self._acks.append(Ack(envelope_id, shown, after, link.number))

    def _forget(self, link: _Link, *, redeliver: bool) -> None:
        """The link is gone: what it carried unacknowledged waits for the next link."""
        with self._lock:
            self._links.pop(link.number, None)
            unacked = list(link.sent.values())
            link.sent.clear()
            if not redeliver:
                return
            for envelope in reversed(unacked):
                self._pending.appendleft(_again(envelope))

    async def _flush(self) -> None:
        """Send what waits, spread over the open links."""
        while True:
            with self._lock:
                links = [self._links[n] for n in sorted(self._links)]
                if not links or not self._pending:
                    return
                envelope = self._pending.popleft()
                link = links[next(self._turn) % len(links)]
                closing = self._close_after_delivery > 0
                if closing:
                    self._close_after_delivery -= 1
            await self._send(link, envelope)
            if closing:
                await link.socket.close(1001)

    async def _send(self, link: _Link, envelope: dict[str, Any]) -> None:
        envelope_id = envelope["envelope_id"]
        with self._lock:
            link.sent[envelope_id] = envelope
            self._sent_at[envelope_id] = time.monotonic()
            self._last_link[envelope_id] = link.number
            self._envelopes[envelope_id] = envelope
            self._deliveries.append((envelope_id, link.number))
        with contextlib.suppress(ConnectionClosed):
            await link.socket.send(json.dumps(envelope))

    async def _redeliver(self, envelope_id: str) -> None:
        with self._lock:
            envelope = self._envelopes.get(envelope_id)
            last = self._last_link.get(envelope_id)
            others = [lk for n, lk in sorted(self._links.items()) if n != last]
            target = others[0] if others else self._links.get(last or -1)
        if target is None or envelope is None:
            raise LookupError(f"cannot redeliver {envelope_id}: no link or no such envelope")
        await self._send(target, _again(envelope))

    async def _disconnect_all(self, reason: str) -> None:
        with self._lock:
            links = list(self._links.values())
        for link in links:
            with contextlib.suppress(ConnectionClosed):
                await link.socket.send(json.dumps({"type": "disconnect", "reason": reason}))
        if reason in CLOSES_THE_LINK:
            await asyncio.sleep(0.05)
            for link in links:
                await link.socket.close(1000)

    async def _close_all(self, *, code: int, redeliver: bool) -> None:
        with self._lock:
            links = list(self._links.values())
        for link in links:
            if not redeliver:
                self._forget(link, redeliver=False)
            await link.socket.close(code)


def _again(envelope: dict[str, Any]) -> dict[str, Any]:
    """The same envelope sent again: `events_api` counts its retries, as Slack does."""
    if envelope.get("type") != "events_api":
        return dict(envelope)
    return envelope | {
        "retry_attempt": int(envelope.get("retry_attempt", 0)) + 1,
        "retry_reason": "timeout",
    }
