"""`pexbot serve`: HTTP mode (Bolt's Starlette adapter under uvicorn) or Socket Mode.

HTTP mode serves POST /slack/events (signature checked by Bolt: 401 otherwise) and GET /healthz.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import Runtime, build_runtime
from bot.config import Settings, configure_logging

log = logging.getLogger(__name__)


def http_app(runtime: Runtime) -> Starlette:
    handler = AsyncSlackRequestHandler(runtime.bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": "http"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await runtime.close()

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def run_socket_mode(runtime: Runtime, stopping: asyncio.Event | None = None) -> None:
    """Connect to Slack over Socket Mode and serve until `stopping` is set (or forever)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    assert runtime.slack.app_token is not None
    handler = AsyncSocketModeHandler(runtime.bolt, runtime.slack.app_token.get_secret_value())
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await (stopping or asyncio.Event()).wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await runtime.close()


def serve(settings: Settings) -> int:
    configure_logging(settings.log_level)
    runtime = build_runtime(settings)
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
    )
    return 0
