"""`pexbot serve`: HTTP mode (Bolt's Starlette adapter under uvicorn) or Socket Mode.

HTTP mode serves POST /slack/events, GET /healthz, GET /metrics (Prometheus) and POST
/pexip/events (the node's event sink, `bot.events.receiver`; in Socket Mode it is served alone
on PORT). Any body over 1 MiB is refused with 413 before anything else (`bot.slack.body_limit`).
A request to /slack/events is checked here before Bolt sees it (Bolt raises, and answers 500, on
some of what anyone may send): without a valid signature within five minutes, 401; signed but
not shaped like a Slack payload (`bot.slack.envelope`), 400; a signature accepted before (a
replay: `bot.store.once`, across every process sharing a PostgreSQL DATABASE_URL), 401. Either
way nothing runs, and a warning is logged. On PostgreSQL the replay claim is decided with the
command's record, in the same round trip (`DOOR_CLAIM`, `Journal.record`): Bolt reads the
request meanwhile, and whatever else it would make happen waits for the claim first
(`handlers.listeners.first_time`); a replay is answered 401 all the same. Every request is
counted open at the door until answered (`AtTheDoor`): queued commands give way to it
(`bot.command_queue`). Uvicorn's access log (a line per request) is on only at LOG_LEVEL=DEBUG.

Socket Mode is `bot.slack.socket_mode`; SIGTERM (or SIGINT) stops it taking envelopes and
finishes the acknowledged ones, as uvicorn does for HTTP mode.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import Runtime, build_runtime
from bot.backup.history import BackupHistory
from bot.command_queue import Door
from bot.config import Settings, configure_logging, warn_about_transport
from bot.events import receiver
from bot.health.exposition import CONTENT_TYPE_LATEST, exposition, render
from bot.slack import envelope
from bot.slack.body_limit import BodyLimit
from bot.slack.socket_mode import Envelopes, SocketModeLink
from bot.store.once import DOOR_CLAIM, Claim

log = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 75
"""How long an idle keep-alive connection stays open (uvicorn's default is 5 s). Longer than a
load balancer's usual 60 s idle timeout, so the balancer closes first; else a request sent on a
connection the server is closing fails as a 502 (or, from a client, a read error)."""

REPLAY_WINDOW = 600.0
"""Seconds a signature is remembered: Slack's timestamps are accepted 5 minutes either way."""


def http_app(runtime: Runtime) -> Starlette:
    secret = runtime.slack.signing_secret
    verifier = SignatureVerifier(secret.get_secret_value()) if secret else None

    async def events(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers.items())  # one copy: Headers.get scans the list each time
        if verifier is not None and not _signed(verifier, headers, body):
            log.warning(
                "refused a request without a valid Slack signature from %s "
                "(if it came from Slack, check SLACK_SIGNING_SECRET)",
                request.client.host if request.client else "an unknown address",
            )
            return JSONResponse({"error": "invalid request"}, status_code=401)
        query = request.scope["query_string"].decode("latin-1") or None
        try:
            bolt_request = envelope.for_bolt(_text(body), headers, query)
        except envelope.Malformed as exc:
            log.warning("refused a signed request that is not a Slack payload: %s", exc)
            return JSONResponse({"error": "malformed payload"}, status_code=400)
        claim = None  # PostgreSQL: left open, decided with the command's record (`DOOR_CLAIM`)
        if verifier is not None and _carried(runtime):
            claim = await _claim(runtime, headers, bolt_request.body)
            replayed = claim is not None and not claim.open and not await claim.won()
        else:  # SQLite: this process's memory decides at once, with no object kept per claim
            replayed = verifier is not None and await _replayed(runtime, headers, bolt_request.body)
        if not replayed:
            token = DOOR_CLAIM.set(claim)
            try:
                response = await runtime.bolt.async_dispatch(bolt_request)
            finally:
                DOOR_CLAIM.reset(token)
            replayed = claim is not None and not await claim.won()
        if replayed:
            log.warning(
                "refused a replayed Slack request (its signature was accepted before) from %s",
                request.client.host if request.client else "an unknown address",
            )
            return JSONResponse({"error": "invalid request"}, status_code=401)
        return to_starlette_response(response)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": "http"})

    backups = BackupHistory(runtime.settings.database_url)
    registry = exposition(backups)

    async def metrics(request: Request) -> Response:
        """Prometheus text format; rendered in a worker thread (it reads the backup runs)."""
        body = await asyncio.to_thread(render, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.open()
        yield
        await runtime.close()
        backups.close()

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            pexip_events_route(runtime),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(AtTheDoor, door=runtime.services.commands.door),
            Middleware(BodyLimit),
        ],
    )


class AtTheDoor:
    """ASGI: each HTTP request is open at the door until answered; queued commands give way to
    open requests (`bot.command_queue.Door`)."""

    def __init__(self, app: ASGIApp, door: Door) -> None:
        self.app = app
        self.door = door

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.door.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.door.leave()


def _exempt(payload: dict[str, Any]) -> bool:
    """Options requests are exempt from the replay check: they change nothing, and Slack sends
    the same body twice in a second when someone types, deletes and retypes (no id or
    timestamp in it tells them apart)."""
    return payload.get("type") == "block_suggestion"


async def _replayed(runtime: Runtime, headers: dict[str, str], payload: dict[str, Any]) -> bool:
    """Was this signature accepted before (by this serve, or its last run, on SQLite)?"""
    if _exempt(payload):
        return False
    return not await runtime.once.first(_replay_key(headers), REPLAY_WINDOW)


async def _claim(
    runtime: Runtime, headers: dict[str, str], payload: dict[str, Any]
) -> Claim | None:
    """This signature, claimed across every process sharing a PostgreSQL DATABASE_URL; None
    for what is exempt."""
    if _exempt(payload):
        return None
    return await runtime.once.claim(_replay_key(headers), REPLAY_WINDOW)


def _replay_key(headers: dict[str, str]) -> str:
    return f"signature:{headers.get('x-slack-signature', '')}"


def _carried(runtime: Runtime) -> bool:
    """PostgreSQL: the claim is decided in the same round trip as the command's record (the
    two writes on an acknowledgement's path in one); whatever else the request makes happen
    waits for it first (`handlers.listeners`)."""
    return runtime.once.carried and runtime.services.journal is not None


def pexip_events_route(runtime: Runtime) -> Route:
    """`POST /pexip/events`: 404 while PEXIP_EVENTS_* are unset (`bot.events.receiver`)."""
    inbox = runtime.services.events or receiver.EventInbox()
    door = receiver.endpoint(runtime.events, inbox, runtime.once)
    return Route("/pexip/events", door, methods=["POST"])


def events_app(runtime: Runtime) -> Starlette:
    """Socket Mode: the node still reaches the event sink over HTTP, on PORT."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": "socket"})

    routes = [pexip_events_route(runtime), Route("/healthz", healthz)]
    door = runtime.services.commands.door
    return Starlette(
        routes=routes, middleware=[Middleware(AtTheDoor, door=door), Middleware(BodyLimit)]
    )


def _text(body: bytes) -> str:
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise envelope.Malformed("the body is not UTF-8 text") from None


def _signed(verifier: SignatureVerifier, headers: dict[str, str], body: bytes) -> bool:
    """Slack's signature check; what it cannot even read (a timestamp that is no number, a
    signature or a body that is not text) is no valid signature either."""
    try:
        return verifier.is_valid(
            body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        )
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        return False


async def run_socket_mode(runtime: Runtime, stopping: asyncio.Event | None = None) -> None:
    """Serve over Socket Mode until `stopping` is set (or forever), then finish what was
    acknowledged. Raises `AppTokenRefused` when Slack will not take SLACK_APP_TOKEN."""
    assert runtime.slack.app_token is not None
    app_token = runtime.slack.app_token.get_secret_value()
    # One retry policy: the link's own backoff.
    app_client = AsyncWebClient(base_url=runtime.slack.api_url, retry_handlers=[])
    envelopes = Envelopes(runtime.bolt, runtime.once, runtime.services.commands.door)
    link = SocketModeLink(app_client, app_token, envelopes)
    await runtime.open()
    door = _events_server(runtime)
    serving = asyncio.create_task(door.serve()) if door is not None else None
    try:
        await link.run(stopping or asyncio.Event())
    finally:
        if door is not None and serving is not None:
            door.should_exit = True
            await serving
        await runtime.close()


async def _socket_mode_until_signalled(runtime: Runtime) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await run_socket_mode(runtime, stopping)
    log.info("pexbot stopped")


def _events_server(runtime: Runtime) -> uvicorn.Server | None:
    if runtime.events is None:
        return None
    config = uvicorn.Config(
        events_app(runtime),
        host="0.0.0.0",
        port=runtime.slack.port,
        log_level=runtime.settings.log_level.lower(),
        access_log=False,
        lifespan="off",
    )
    return uvicorn.Server(config)


def freeze_start_up_objects() -> None:
    """Keep everything built at start-up (Bolt, slack_sdk, SQLAlchemy, pydantic models...) out
    of the garbage collector's full passes: it lives as long as the process, and rescanning it
    stalled the event loop ~100 ms each time, and every request in flight with it."""
    gc.collect()
    gc.freeze()


def serve(settings: Settings) -> int:
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
    warn_about_transport(settings.pexip())
    freeze_start_up_objects()
    if runtime.slack.socket_mode:
        log.info("pexbot serving in Socket Mode (%s)", runtime.slack.command)
        asyncio.run(_socket_mode_until_signalled(runtime))
        return 0
    log.info("pexbot serving HTTP on port %d (%s)", runtime.slack.port, runtime.slack.command)
    uvicorn.run(
        http_app(runtime),
        host="0.0.0.0",
        port=runtime.slack.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        access_log=settings.log_level == "DEBUG",  # a line per request cost ~10% of an ack's CPU
    )
    return 0
