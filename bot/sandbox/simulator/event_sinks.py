"""Event sinks: `configuration/v1/event_sink/`, the `event_sinks` of each system location, and
the events the Conferencing Nodes POST to them (real-node-facts §6).

The node's state is compared with what was last reported (after every request and on a short
tick, so a dialled call that answers is reported too) and the differences become events:
`conference_started` / `_updated` / `_ended` from every node that hosts part of the conference
(the nodes of its participants' media), `participant_connected` / `_updated` / `_disconnected`
from the participant's own node. Each node POSTs, one by one in order, to every sink attached
to its location, in the sink's `version` envelope, with `seq` counted per node and sink from 1
(`eventsink_started`). A sink with `bulk_support` gets each tick's events as one
`eventsink_bulk` delivery. For tests the control API can make deliveries repeat or go out of
order (`Delivery`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .errors import ApiError
from .models import Participant
from .rest import list_response, not_found, read_fields
from .state import NodeState
from .status import service_type

log = logging.getLogger(__name__)

TICK_SECONDS = 0.05
RETRIES = 5
PREFIX = "/api/admin/configuration/v1/event_sink/"
SINK_FIELDS = (
    "id", "name", "description", "url", "username", "password", "verify_tls_certificate",
    "version", "bulk_support", "restart_date", "updated_at", "resource_uri",
)  # fmt: skip


_Conferences = dict[tuple[str, str], dict[str, Any]]  # (conference id, node) -> data
_Participants = dict[str, tuple[str, dict[str, Any]]]  # id -> (its node, data)


@dataclass
class Sink:
    id: int
    name: str
    url: str
    description: str = ""
    username: str = ""
    password: str = ""
    verify_tls_certificate: bool = False
    version: int = 1
    bulk_support: bool = False
    restart_date: str | None = None
    updated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        body = {name: getattr(self, name) for name in SINK_FIELDS if hasattr(self, name)}
        return {**body, "resource_uri": f"{PREFIX}{self.id}/"}


@dataclass
class Delivery:
    """Test options: `duplicate_every` N-th event delivered twice; `reverse` each tick's events
    sent newest first (their `seq` unchanged, as a redelivery after a glitch would); events
    named in `lose` never arrive (their `seq` is a gap), as a missed `participant_disconnected`
    of a real node (real-node-facts: plan for missed ones)."""

    duplicate_every: int = 0
    reverse: bool = False
    lose: tuple[str, ...] = ()


@dataclass
class _Stream:
    """What one node sends one sink: its next `seq` and the queue of envelopes."""

    seq: int = 0
    queue: list[dict[str, Any]] = field(default_factory=list)


def participant_event_data(node: NodeState, participant: Participant) -> dict[str, Any]:
    """A participant event's `data` (facts §6: the event field set, times as Unix floats)."""
    conference = node.conferences[participant.conference_id]
    return {
        "uuid": participant.id,
        "call_id": participant.id,
        "conversation_id": participant.id,
        "conference": conference.service.name,
        "display_name": participant.display_name,
        "source_alias": participant.source_alias,
        "destination_alias": participant.destination_alias,
        "call_direction": participant.call_direction,
        "protocol": participant.protocol,
        "role": participant.role,
        "service_type": service_type(node, participant),
        "has_media": participant.has_media,
        "is_muted": participant.is_muted,
        "is_client_muted": participant.is_client_muted,
        "is_presenting": participant.is_presenting,
        "is_streaming": participant.is_streaming,
        "is_idp_authenticated": False,
        "encryption": "On",
        "connect_time": participant.connect_time,
        "media_node": participant.media_node,
        "signalling_node": participant.media_node,
        "proxy_node": "",
        "remote_address": participant.remote_address,
        "system_location": participant.system_location,
        "vendor": participant.vendor,
        "rx_bandwidth": 1920 if participant.has_media else 0,
        "tx_bandwidth": 1536 if participant.has_media else 0,
        "service_tag": conference.service.tag,
        "call_tag": "",
        "related_uuids": [],
    }


class EventSinks:
    """The sinks, their attachments to locations, and the nodes' deliveries to them."""

    def __init__(self, node: NodeState) -> None:
        self.node = node
        self.delivery = Delivery()
        self.delivered = 0
        self.sinks: dict[int, Sink] = {}
        self.attached: dict[int, list[int]] = {}  # location id -> sink ids
        self._next_id = 1
        self._streams: dict[tuple[str, int], _Stream] = {}
        self._reported: tuple[_Conferences, _Participants] | None = None
        self._counter = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def reset(self) -> None:
        self.sinks.clear()
        self.attached.clear()
        self._streams.clear()
        self._reported = None
        self.delivery = Delivery()
        self.delivered = 0

    # --- configuration -----------------------------------------------------------------------

    def create(self, fields: dict[str, Any]) -> Sink:
        sink = Sink(id=self._next_id, name="", url="")
        self._next_id += 1
        self.update(sink, fields)
        self.sinks[sink.id] = sink
        return sink

    def update(self, sink: Sink, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name in SINK_FIELDS and name not in ("id", "resource_uri", "updated_at"):
                setattr(sink, name, value)
        sink.updated_at = _iso_now()
        for key in [key for key in self._streams if key[1] == sink.id]:
            del self._streams[key]  # a changed sink restarts: seq starts again at 1

    def delete(self, sink_id: int) -> None:
        self.sinks.pop(sink_id, None)
        for sinks in self.attached.values():
            if sink_id in sinks:
                sinks.remove(sink_id)

    def uris(self, location_id: int) -> list[str]:
        return [f"{PREFIX}{sink_id}/" for sink_id in self.attached.get(location_id, [])]

    def attach(self, location_id: int, uris: list[str]) -> None:
        ids = [_id_of(uri) for uri in uris]
        self.attached[location_id] = [i for i in ids if i is not None and i in self.sinks]

    # --- events ------------------------------------------------------------------------------

    def poke(self) -> None:
        """State may have changed: report it now (starts the reporter on first use)."""
        if not self.sinks:
            return
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="simulator event sinks")
        assert self._wake is not None
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        assert self._wake is not None
        while self.sinks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS)
            self._wake.clear()
            self._report()
            await self._flush()

    def _report(self) -> None:
        now_conferences, now_participants = self._snapshot()
        if self._reported is None:
            self._reported = (now_conferences, now_participants)
            return
        before_conferences, before_participants = self._reported
        self._reported = (now_conferences, now_participants)
        for key, data in now_conferences.items():
            if key not in before_conferences:
                self._emit(key[1], "conference_started", data)
            elif data != before_conferences[key]:
                self._emit(key[1], "conference_updated", data)
        for pid, (where, data) in now_participants.items():
            if pid not in before_participants:
                self._emit(where, "participant_connected", data)
            elif data != before_participants[pid][1]:
                self._emit(where, "participant_updated", data)
        for pid, (where, data) in before_participants.items():
            if pid not in now_participants:
                self._emit(where, "participant_disconnected", _ended(data))
        for key, data in before_conferences.items():
            if key not in now_conferences:
                self._emit(key[1], "conference_ended", {**data, "end_time": time.time()})

    def _snapshot(self) -> tuple[_Conferences, _Participants]:
        node = self.node
        participants = {
            p.id: (p.media_node, participant_event_data(node, p)) for p in node.live_participants()
        }
        conferences: _Conferences = {}
        for conference in node.live_conferences():
            data = {
                "name": conference.service.name,
                "service_type": conference.service.service_type,
                "is_locked": conference.is_locked,
                "is_started": node.is_started(conference),
                "guests_muted": conference.guests_muted,
                "start_time": conference.start_time,
                "tag": conference.service.tag,
            }
            members = node.participants.values()
            hosts = {p.media_node for p in members if p.conference_id == conference.id}
            for host in sorted(hosts):
                conferences[(conference.id, host)] = data
        return conferences, participants

    def _emit(self, sender: str, name: str, data: dict[str, Any]) -> None:
        for sink_id in self._sinks_of(sender):
            stream = self._stream(sender, sink_id)
            self._counter += 1
            envelope = self._envelope(sender, sink_id, stream, name, data)
            if name in self.delivery.lose:
                continue  # sent, and lost on the way
            stream.queue.append(envelope)
            every = self.delivery.duplicate_every
            if every and self._counter % every == 0:
                stream.queue.append(envelope)

    def _stream(self, sender: str, sink_id: int) -> _Stream:
        stream = self._streams.get((sender, sink_id))
        if stream is None:
            stream = self._streams[(sender, sink_id)] = _Stream()
            stream.queue.append(self._envelope(sender, sink_id, stream, "eventsink_started", {}))
        return stream

    def _envelope(
        self, sender: str, sink_id: int, stream: _Stream, name: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        stream.seq += 1
        version = self.sinks[sink_id].version
        return {
            "node": sender,
            "seq": stream.seq,
            "version": version,
            "time": time.time(),
            "event": name,
            "data": data,
        }

    def _sinks_of(self, sender: str) -> list[int]:
        for location in self.node.locations.values():
            if sender in location.nodes:
                return list(self.attached.get(location.id, []))
        return []

    async def _flush(self) -> None:
        for (_, sink_id), stream in list(self._streams.items()):
            sink = self.sinks.get(sink_id)
            if sink is None or not stream.queue:
                continue
            batch, stream.queue = stream.queue, []
            if self.delivery.reverse:
                batch.reverse()
            if sink.bulk_support:
                bulk = {"node": "127.0.0.1", "seq": 0, "version": sink.version,
                        "time": time.time(), "event": "eventsink_bulk", "data": batch}  # fmt: skip
                await self._post(sink, bulk)
                continue
            for envelope in batch:
                await self._post(sink, envelope)

    async def _post(self, sink: Sink, body: dict[str, Any]) -> None:
        """One delivery, retried (in order: the node's queue waits) a few times."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0, verify=sink.verify_tls_certificate)
        headers = {}
        if sink.username:
            token = base64.b64encode(f"{sink.username}:{sink.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        for attempt in range(RETRIES):
            try:
                answer = await self._client.post(sink.url, json=body, headers=headers)
                if answer.is_success:
                    self.delivered += 1
                    return
                log.info("event sink %s answered %d", sink.name, answer.status_code)
            except httpx.HTTPError as exc:
                log.info("event sink %s unreachable: %s", sink.name, exc)
            await asyncio.sleep(0.1 * (attempt + 1))


def _ended(data: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    start = data.get("connect_time")
    took = now - start if isinstance(start, int | float) else 0.0
    return {**data, "disconnect_reason": "Call disconnected", "duration": took, "end_time": now}


def _id_of(uri: str) -> int | None:
    tail = uri.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def routes(sinks: EventSinks) -> list[BaseRoute]:
    """`configuration/v1/event_sink/` (GET, POST, PUT, PATCH, DELETE) and the `event_sinks` of
    `configuration/v1/system_location/<id>/` (PUT, PATCH)."""

    async def listing(request: Request) -> Response:
        return list_response(request, [s.to_json() for s in sinks.sinks.values()], SINK_FIELDS)

    async def create(request: Request) -> Response:
        fields = await read_fields(request)
        _require(fields, "name", "url")
        if any(s.name == fields["name"] for s in sinks.sinks.values()):
            raise ApiError.field("name", "Event sink with this Name already exists.")
        sink = sinks.create(fields)
        return Response(status_code=201, headers={"Location": f"{PREFIX}{sink.id}/"})

    async def detail(request: Request) -> Response:
        sink = sinks.sinks.get(request.path_params["key"])
        if sink is None:
            return not_found()
        if request.method == "GET":
            return JSONResponse(sink.to_json())
        if request.method == "DELETE":
            sinks.delete(sink.id)
            return Response(status_code=204)
        sinks.update(sink, await read_fields(request))
        return Response(status_code=202)

    async def location(request: Request) -> Response:
        location_id = request.path_params["key"]
        if location_id not in sinks.node.locations:
            return not_found()
        fields = await read_fields(request)
        uris = fields.get("event_sinks", [])
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise ApiError.field("event_sinks", "A list of event sink URIs is expected.")
        sinks.attach(location_id, uris)
        return Response(status_code=202)

    location_path = "/api/admin/configuration/v1/system_location/{key:int}/"
    return [
        Route(PREFIX, listing, methods=["GET"]),
        Route(PREFIX, create, methods=["POST"]),
        Route(f"{PREFIX}{{key:int}}/", detail, methods=["GET", "PUT", "PATCH", "DELETE"]),
        Route(location_path, location, methods=["PUT", "PATCH"]),
    ]


def _require(fields: dict[str, Any], *names: str) -> None:
    for name in names:
        if not isinstance(fields.get(name), str) or not fields[name]:
            raise ApiError.field(name, "This field is required.")
