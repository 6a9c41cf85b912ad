"""Fault injection: rules that delay, fail, break or cut vendor API responses.

A rule matches a method (or any) and a path prefix; the first matching rule with uses left
applies. `latency` can be combined with one of the failure kinds, or used alone (the request
is then answered normally, late).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .connection import close_connection

MALFORMED_BODY = "<html><head><title>Pexip Infinity</title></head><body>Loading...</body></html>"
KINDS = ("status", "drop", "drop_mid_response", "malformed", "login_redirect")


@dataclass
class FaultRule:
    """One fault; `times` is the number of uses left (None: unlimited)."""

    id: int
    method: str | None = None
    path: str = "/api/"
    times: int | None = None
    latency: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    body: Any = None
    drop: bool = False
    drop_mid_response: bool = False
    malformed: bool = False
    login_redirect: bool = False
    applied: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method not in (None, "", "*") and str(self.method).upper() != method:
            return False
        return path.startswith(self.path)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """The active fault rules, in the order they were added."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, **options: Any) -> FaultRule:
        rule = FaultRule(id=self._next_id, **options)
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule to apply to this request, with one use consumed; None if none matches."""
        for rule in self.rules:
            if rule.matches(method, path):
                rule.applied += 1
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None


async def apply(rule: FaultRule, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer the request as `rule` says; `app` answers it normally where the fault needs it."""
    if rule.latency:
        # the node has the whole request, then is slow to act: a client that gives up
        # meanwhile does not stop the command from running
        receive = await _buffered(receive)
        await asyncio.sleep(rule.latency)
    if rule.drop:
        await close_connection(send)
    elif rule.status is not None:
        await _status_response(rule)(scope, receive, send)
    elif rule.malformed:
        body = rule.body if isinstance(rule.body, str) else MALFORMED_BODY
        await Response(body, 200, media_type="application/json")(scope, receive, send)
    elif rule.login_redirect:
        query = scope.get("query_string", b"").decode("latin-1")
        full_path = f"{scope['path']}?{query}" if query else scope["path"]
        location = f"/admin/login/?next={quote(full_path, safe='/')}"
        await Response(status_code=302, headers={"Location": location}, media_type="text/html")(
            scope, receive, send
        )
    elif rule.drop_mid_response:
        await _cut_response(app, scope, receive, send)
    else:
        await app(scope, receive, send)


async def _buffered(receive: Receive) -> Receive:
    """Read the request body now; the returned `receive` replays it, then listens on."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def _status_response(rule: FaultRule) -> Response:
    assert rule.status is not None
    headers = {"Retry-After": rule.retry_after} if rule.retry_after else None
    if rule.body is None:
        return Response(_phrase(rule.status), rule.status, headers, media_type="text/plain")
    if isinstance(rule.body, str):
        return Response(rule.body, rule.status, headers, media_type="text/plain")
    return Response(json.dumps(rule.body), rule.status, headers, media_type="application/json")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _cut_response(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the request normally, but send the headers and only half the body, then close."""
    limit: int | None = None
    sent = 0
    cut = False

    async def partial_send(message: Message) -> None:
        nonlocal limit, sent, cut
        if cut:
            return
        if message["type"] == "http.response.start":
            length = dict(message.get("headers", [])).get(b"content-length")
            limit = int(length) // 2 if length else None
            await send(message)
            return
        body: bytes = message.get("body", b"")
        if limit is None:
            limit = len(body) // 2
        room = max(limit - sent, 0)
        if len(body) < room and message.get("more_body", False):
            sent += len(body)
            await send(message)
            return
        await send({"type": "http.response.body", "body": body[:room], "more_body": True})
        cut = True
        await close_connection(send)

    await app(scope, receive, partial_send)
    if not cut:
        await close_connection(send)
