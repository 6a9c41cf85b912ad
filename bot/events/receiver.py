"""`POST /pexip/events`: the door for the node's event sink (INTERFACE §3, §8).

Answers at once: over 1 MiB 413 (before anything else), credentials unset 404, wrong or missing
Basic credentials 401 (compared in constant time), not an event envelope 400 (logged; the next
delivery is read as usual), otherwise the events are counted (`pexbot_events_received`),
recorded in the inbox and 200 follows. The inbox's consumer renders them afterwards, in arrival
order. An event already received, by this process or any other sharing DATABASE_URL (the same
node, `seq` and send time: a redelivery), is answered 200 and not recorded again
(`bot.store.once`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.config import EventSettings
from bot.events.envelope import BULK, SINK_LIFECYCLE, Event, Malformed, read_delivery
from bot.health.metrics import count_event
from bot.store.once import Once

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
SEEN_SECONDS = 12 * 3600.0
"""How long a received event is remembered: nodes may redeliver very late (facts §6: one
production receiver treats events older than 10 h as resent)."""
Consumer = Callable[[Event], Awaitable[None]]


class EventInbox:
    """Events recorded by the door and handed, in order, to the consumer (`handlers.live`)."""

    def __init__(self) -> None:
        self.consumer: Consumer | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def accept(self, events: list[Event]) -> None:
        for event in events:
            self._queue.put_nowait(event)
        if events:
            self._idle.clear()
            self._start()

    async def settled(self) -> None:
        """Until every accepted event has been handled (tests, benchmarks, shutdown)."""
        await self._idle.wait()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._consume(), name="live events")

    async def _consume(self) -> None:
        while True:
            if self._queue.empty():
                self._idle.set()
            event = await self._queue.get()
            if self.consumer is not None:
                try:
                    await self.consumer(event)
                except Exception:
                    log.exception("could not handle the event %s from %s", event.name, event.node)

    async def close(self, grace: float = 5.0) -> None:
        """On shutdown: handle what was accepted (up to `grace` seconds), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        if self._task is not None:
            self._task.cancel()


def endpoint(
    settings: EventSettings | None, inbox: EventInbox, once: Once | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of `POST /pexip/events`."""
    expected = None
    if settings is not None:
        expected = f"{settings.username}:{settings.password.get_secret_value()}".encode()

    async def pexip_events(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return JSONResponse({"error": "request body over 1 MiB"}, status_code=413)
        if expected is None:
            return Response(status_code=404)
        if not _authorized(request.headers.get("authorization", ""), expected):
            headers = {"WWW-Authenticate": 'Basic realm="pexbot events"'}
            return JSONResponse({"error": "unauthorized"}, status_code=401, headers=headers)
        try:
            events, bulk = read_delivery(body)
        except Malformed as exc:
            log.warning("refused a malformed event from the node: %s", exc)
            return JSONResponse({"error": f"malformed event: {exc}"}, status_code=400)
        if bulk:
            count_event(BULK)
        for event in events:
            count_event(event.name)
        inbox.accept([event for event in events if await _first(once, event)])
        return JSONResponse({"status": "ok"})

    return pexip_events


async def _first(once: Once | None, event: Event) -> bool:
    """Not received before (sink lifecycle events are not worth remembering)."""
    if once is None or event.name in SINK_LIFECYCLE:
        return True
    return await once.first(f"event:{event.node}:{event.seq}:{event.time!r}", SEEN_SECONDS)


async def _body(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _authorized(header: str, expected: bytes) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected)
