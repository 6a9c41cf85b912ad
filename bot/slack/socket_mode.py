"""Socket Mode as Slack speaks it (INTERFACE §3), on `websockets`.

slack_sdk's Socket Mode clients reconnect without backoff (thousands of `apps.connections.open`
calls a minute when Slack answers `too_many_websockets`), keep retrying a refused app token, and,
under Bolt's adapter, leave every envelope Bolt does not answer 200 unacknowledged. This is the
protocol, small and whole:

- `apps.connections.open` (app token in the Authorization header) gives a fresh single-use URL
  for each link; the link starts with `hello`.
- Every envelope is acknowledged with its `envelope_id`, whatever its type, carrying the
  listener's answer when Slack accepts one (`accepts_response_payload`). `Envelopes` decides
  what to act on: a redelivery (an `envelope_id` already seen, by any process sharing
  `DATABASE_URL`, or `retry_attempt` > 0) and a payload not shaped like Slack's are only
  acknowledged.
- `disconnect` `refresh_requested` or `warning`: a new link at once. `too_many_websockets`, a
  server close, a failed handshake or a failed `apps.connections.open`: a new link after an
  exponential backoff with jitter, reset once a link has stayed up. `link_disabled`, or an app
  token Slack refuses: `AppTokenRefused`, which stops `serve` with a message naming
  SLACK_APP_TOKEN.
- Pings: `websockets` answers Slack's and sends its own, so a dead link is noticed.
- Stopping (SIGTERM): no new envelope is read; those being handled are acknowledged, then the
  link closes. Anything Slack sent after that, unacknowledged, it delivers again elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from bot.command_queue import Door
from bot.config import ConfigError
from bot.slack import envelope as shapes
from bot.store.once import Once

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0
"""Seconds before the first retry of a failed link; doubled after each further failure."""
MAX_BACKOFF = 120.0
STABLE_SECONDS = 30.0
"""A link up this long has worked: the next failure starts the backoff afresh."""
HELLO_SECONDS = 10.0
PING_SECONDS = 10.0
ACK_GRACE = 2.5
"""On stop or refresh, how long envelopes being handled get to be acknowledged on the old link."""
ENVELOPE_LIFETIME = 3600.0
"""How long an envelope id is remembered; Slack redelivers within minutes."""

# What apps.connections.open answers when the app token itself is wrong: retrying cannot help.
REFUSED_TOKEN = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
}
ACTED_ON = ("slash_commands", "interactive", "events_api")


class AppTokenRefused(ConfigError):
    """Slack will not open a link with SLACK_APP_TOKEN: stop, saying so."""


def refused(code: str) -> AppTokenRefused:
    if code == "link_disabled":
        return AppTokenRefused(
            "SLACK_APP_TOKEN: Slack disabled this app's Socket Mode link (link_disabled); "
            "turn Socket Mode on for the app, or use HTTP mode"
        )
    return AppTokenRefused(
        f"SLACK_APP_TOKEN: Slack refused it ({code}); create an app-level token with "
        "connections:write under Basic Information → App-Level Tokens"
    )


@dataclass
class Backoff:
    """Exponential, with jitter: the n-th wait is between half and all of `first` * 2**n."""

    first: float = field(default_factory=lambda: FIRST_BACKOFF)
    cap: float = field(default_factory=lambda: MAX_BACKOFF)
    failures: int = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2**self.failures)
        self.failures += 1
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    def reset(self) -> None:
        self.failures = 0


class Ended(Enum):
    STOPPED = "stopped"
    REFRESH = "refresh"  # Slack asked for a new link: no wait
    FAILED = "failed"  # refused, closed or broken: wait before the next


class _Retry(Exception):
    def __init__(self, reason: str, at_least: float = 0.0) -> None:
        super().__init__(reason)
        self.at_least = at_least


class Envelopes:
    """What an envelope makes the app do, and the acknowledgement's payload."""

    def __init__(self, bolt: AsyncApp, once: Once, door: Door | None = None) -> None:
        self.bolt = bolt
        self.once = once
        self.door = door or Door()

    async def __call__(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        """The acknowledgement's payload; queued commands give way meanwhile (`Door`)."""
        with self.door.answering():
            return await self._answer(envelope)

    async def _answer(self, envelope: dict[str, Any]) -> dict[str, Any] | None:
        envelope_id = str(envelope["envelope_id"])
        kind = str(envelope.get("type", ""))
        if kind not in ACTED_ON:
            log.info("acknowledged a Socket Mode envelope of type %r (not used)", kind)
            return None
        attempt = envelope.get("retry_attempt")
        if (isinstance(attempt, int) and attempt > 0) or not await self.once.first(
            f"envelope:{envelope_id}", ENVELOPE_LIFETIME
        ):
            log.info(
                "acknowledged a redelivered %s envelope %s; not acted on again", kind, envelope_id
            )
            return None
        payload = envelope.get("payload")
        problem = shapes.problem(payload)
        if problem is not None or not isinstance(payload, dict):
            log.warning("refused a Socket Mode %s payload that is not Slack's: %s", kind, problem)
            return None
        response = await self.bolt.async_dispatch(
            AsyncBoltRequest(body=payload, mode="socket_mode")
        )
        if response.status != 200 or not response.body:
            return None
        try:
            answer = json.loads(response.body)
        except ValueError:
            return {"text": response.body}
        return answer if isinstance(answer, dict) else None


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class SocketModeLink:
    """One process's link to Slack: `await link.run(stopping)` serves until `stopping` is set."""

    def __init__(self, app_client: AsyncWebClient, app_token: str, handle: Handler) -> None:
        self.app_client = app_client
        self._app_token = app_token
        self.handle = handle
        self.backoff = Backoff()
        self._handling: set[asyncio.Task[None]] = set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Raises `AppTokenRefused` when Slack refuses the app token or disables the link."""
        while not stopping.is_set():
            try:
                url = await _unless_stopped(self._open_url(), stopping)
            except _Retry as retry:
                wait = max(self.backoff.next(), retry.at_least)
                log.warning("apps.connections.open failed (%s); trying again in %.1fs", retry, wait)
                await _pause(wait, stopping)
                continue
            if url is None:
                return
            ended = await self._serve(url, stopping)
            if ended is Ended.FAILED and not stopping.is_set():
                wait = self.backoff.next()
                log.info("opening a new Socket Mode link in %.1fs", wait)
                await _pause(wait, stopping)

    async def _open_url(self) -> str:
        try:
            response = await self.app_client.apps_connections_open(app_token=self._app_token)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            if code in REFUSED_TOKEN:
                raise refused(code) from None
            retry_after = (exc.response.headers or {}).get("Retry-After", "0")
            raise _Retry(code, float(retry_after) if str(retry_after).isdigit() else 0.0) from None
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _Retry(f"Slack not reachable: {type(exc).__name__}") from None
        url = response.get("url")
        if not isinstance(url, str) or not url:
            raise _Retry("no url in the answer")
        return url

    async def _serve(self, url: str, stopping: asyncio.Event) -> Ended:
        try:
            async with connect(
                url,
                ping_interval=PING_SECONDS,
                ping_timeout=PING_SECONDS,
                open_timeout=HELLO_SECONDS,
                close_timeout=2,
            ) as link:
                return await self._until_ended(link, stopping)
        except (OSError, TimeoutError, InvalidURI, InvalidHandshake) as exc:
            log.warning("could not open a Socket Mode link: %s", type(exc).__name__)
            return Ended.FAILED

    async def _until_ended(self, link: ClientConnection, stopping: asyncio.Event) -> Ended:
        reading = asyncio.create_task(self._read(link))
        stop = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait({reading, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
        await self._acknowledged()
        return Ended.STOPPED if stopping.is_set() else reading.result()

    async def _acknowledged(self) -> None:
        """Give the envelopes being handled time to be acknowledged before the link closes."""
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=ACK_GRACE)

    async def _read(self, link: ClientConnection) -> Ended:
        loop = asyncio.get_running_loop()
        up_since: float | None = None
        try:
            async with asyncio.timeout(HELLO_SECONDS) as hello:
                async for raw in link:
                    message = _message(raw)
                    kind = message.get("type")
                    if "envelope_id" in message:
                        self._answer(link, message)
                    elif kind == "hello":
                        hello.reschedule(None)
                        up_since = loop.time()
                        log.info(
                            "Socket Mode link open (%s of this app's links)",
                            message.get("num_connections", "?"),
                        )
                    elif kind == "disconnect":
                        return self._disconnected(str(message.get("reason", "")), up_since)
        except TimeoutError:
            log.warning("a Socket Mode link said no hello within %gs", HELLO_SECONDS)
            return Ended.FAILED
        except ConnectionClosed:
            pass
        log.info("Slack closed the Socket Mode link")
        return self._closed(up_since)

    def _disconnected(self, reason: str, up_since: float | None) -> Ended:
        if reason == "link_disabled":
            raise refused(reason)
        if reason in ("refresh_requested", "warning"):
            log.info("Slack asked for a new Socket Mode link (%s)", reason)
            self.backoff.reset()
            return Ended.REFRESH
        if reason == "too_many_websockets":
            log.warning("Slack refused a Socket Mode link: too_many_websockets (at most 10)")
            return Ended.FAILED
        log.info("Slack ended the Socket Mode link (%s)", reason or "no reason")
        return self._closed(up_since)

    def _closed(self, up_since: float | None) -> Ended:
        loop = asyncio.get_running_loop()
        if up_since is not None and loop.time() - up_since >= STABLE_SECONDS:
            self.backoff.reset()
            return Ended.REFRESH
        return Ended.FAILED

    def _answer(self, link: ClientConnection, envelope: dict[str, Any]) -> None:
        task = asyncio.create_task(self._acknowledge(link, envelope))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _acknowledge(self, link: ClientConnection, envelope: dict[str, Any]) -> None:
        envelope_id = str(envelope["envelope_id"])
        answer: dict[str, Any] | None = None
        try:
            answer = await self.handle(envelope)
        except Exception:
            log.exception("handling Socket Mode envelope %s failed; acknowledged", envelope_id)
        ack: dict[str, Any] = {"envelope_id": envelope_id}
        if answer and envelope.get("accepts_response_payload"):
            ack["payload"] = answer
        try:
            await link.send(json.dumps(ack))
        except ConnectionClosed:
            log.info("the link closed before envelope %s was acknowledged", envelope_id)


def _message(raw: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


async def _unless_stopped(work: Awaitable[str], stopping: asyncio.Event) -> str | None:
    """`work`'s result, or None (and `work` cancelled) if `stopping` is set first."""
    working = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({working, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not working.done():
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working
        return None
    return working.result()


async def _pause(seconds: float, stopping: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
