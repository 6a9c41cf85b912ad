"""Refuse a request body over the limit (1 MiB, INTERFACE §3) with 413, before anything else.

ASGI middleware in front of every route: a `Content-Length` over the limit is answered at once,
without reading the body; one within it is passed on untouched (the server's HTTP parser hands
on no more body than the `Content-Length` says, and refuses a request that also says chunked).
A body sent without one (chunked) is read up to the limit and refused as soon as it goes past;
what passes is handed on whole. Nothing behind this middleware ever holds more than the limit in
memory for one request.
"""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if length > self.limit:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return whole

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        log.warning(
            "refused a request body over %d bytes to %s from %s",
            self.limit,
            scope.get("path", ""),
            client[0] if client else "an unknown address",
        )
        response = JSONResponse({"error": "request body too large"}, status_code=413)
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The request's `Content-Length`, or None if it has none (or none that is a number)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None
