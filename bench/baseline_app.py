"""The `baseline` case's bot: a bare Bolt `AsyncApp` with one slash-command listener that only
acknowledges, served by the same stack as `pexbot serve` (Starlette under uvicorn with
httptools, access log off, Bolt's own Starlette adapter) and configured through the same
variables (`PORT`, `SLACK_SIGNING_SECRET`, `SLACK_BOT_TOKEN`, `SLACK_API_URL`). Like pexbot it
answers as the listener returns (`process_before_response=True`); Bolt's default instead polls
for the ack every 10 ms, which would make pexbot look faster than it is.

`python -m bench.baseline_app`: what pexbot's acknowledgement costs is judged against this.
"""

from __future__ import annotations

import os

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def bare_app() -> Starlette:
    client = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
    )
    bolt = AsyncApp(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=True,  # as pexbot: answered when the listener returns
    )

    @bolt.command(os.environ.get("SLACK_COMMAND", "/pexip"))
    async def ack_only(ack: AsyncAck) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": "baseline"})

    return Starlette(
        routes=[
            Route("/slack/events", events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    uvicorn.run(
        bare_app(),
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
