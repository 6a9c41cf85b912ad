"""`pexbot serve`: HTTP mode (Bolt's Starlette adapter under uvicorn) or Socket Mode.

HTTP mode serves POST /slack/events, GET /healthz and GET /metrics (Prometheus). A request to
/slack/events is checked here before Bolt sees it (Bolt raises, and answers 500, on some of what
anyone may send): without a valid signature within five minutes, 401; signed but not shaped like
a Slack payload (`bot.slack.envelope`), 400. Either way nothing runs, and a warning is logged.
Uvicorn's access log (a line per request) is on only at LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import Runtime, build_runtime
from bot.backup.history import BackupHistory
from bot.config import Settings, configure_logging, warn_about_transport
from bot.health.exposition import CONTENT_TYPE_LATEST, exposition, render
from bot.slack import envelope

log = logging.getLogger(__name__)


def http_app(runtime: Runtime) -> Starlette:
    secret = runtime.slack.signing_secret
    verifier = SignatureVerifier(secret.get_secret_value()) if secret else None

    async def events(request: Request) -> Response:
        body = await request.body()
        if verifier is not None and not _signed(verifier, request.headers, body):
            log.warning(
                "refused a request without a valid Slack signature from %s "
                "(if it came from Slack, check SLACK_SIGNING_SECRET)",
                request.client.host if request.client else "an unknown address",
            )
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            payload = envelope.read(body.decode(), request.headers.get("content-type"))
        except (ValueError, RecursionError):  # not JSON, or JSON nested past Python's limit
            payload = None
        problem = envelope.problem(payload)
        if problem is not None:
            log.warning("refused a signed request that is not a Slack payload: %s", problem)
            return JSONResponse({"error": "malformed payload"}, status_code=400)
        text = body.decode()
        query = request.url.query or None
        bolt_request = envelope.for_bolt(text, payload, dict(request.headers), query)
        return to_starlette_response(await runtime.bolt.async_dispatch(bolt_request))

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
        ],
        lifespan=lifespan,
    )


def _signed(verifier: SignatureVerifier, headers: Headers, body: bytes) -> bool:
    """Slack's signature check; what it cannot even read (a timestamp that is no number, a
    signature or a body that is not text) is no valid signature either."""
    try:
        return verifier.is_valid(
            body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        )
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        return False


async def run_socket_mode(runtime: Runtime, stopping: asyncio.Event | None = None) -> None:
    """Connect to Slack over Socket Mode and serve until `stopping` is set (or forever)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    assert runtime.slack.app_token is not None
    handler = AsyncSocketModeHandler(runtime.bolt, runtime.slack.app_token.get_secret_value())
    await runtime.open()
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await (stopping or asyncio.Event()).wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await runtime.close()


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
        asyncio.run(run_socket_mode(runtime))
        return 0
    log.info("pexbot serving HTTP on port %d (%s)", runtime.slack.port, runtime.slack.command)
    uvicorn.run(
        http_app(runtime),
        host="0.0.0.0",
        port=runtime.slack.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        access_log=settings.log_level == "DEBUG",  # a line per request cost ~10% of an ack's CPU
    )
    return 0
