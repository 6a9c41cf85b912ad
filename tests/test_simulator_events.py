"""The simulator's Conferencing Nodes POST events to every configured event sink, in the real
envelope and with the real field sets (real-node-facts §6), when the node's state changes; and
can be told to repeat deliveries, reorder them, or batch them (bulk)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.sandbox.serve import BackgroundServer

CONFIG = "/api/admin/configuration/v1/"
ENVELOPE_KEYS = {"node", "seq", "version", "time", "event", "data"}
PARTICIPANT_KEYS = {
    "uuid", "call_id", "conversation_id", "conference", "display_name", "source_alias",
    "destination_alias", "call_direction", "protocol", "role", "service_type", "has_media",
    "is_muted", "is_presenting", "is_streaming", "is_client_muted", "is_idp_authenticated",
    "connect_time", "encryption", "media_node", "signalling_node", "proxy_node", "remote_address",
    "system_location", "vendor", "rx_bandwidth", "tx_bandwidth", "service_tag", "call_tag",
    "related_uuids",
}  # fmt: skip
DISCONNECTED_EXTRA = {"disconnect_reason", "duration", "end_time"}
CONFERENCE_KEYS = {
    "name", "service_type", "is_locked", "is_started", "guests_muted", "start_time", "tag",
}  # fmt: skip


class Sink:
    """A receiver that records what the node POSTs (body and Authorization header)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, Any], str]] = []
        self._lock = threading.Lock()

        async def receive(request: Request) -> Response:
            body = json.loads(await request.body())
            with self._lock:
                self.deliveries.append((body, request.headers.get("authorization", "")))
            return Response(status_code=200)

        self.app = Starlette(routes=[Route("/pexip/events", receive, methods=["POST"])])

    def envelopes(self) -> list[dict[str, Any]]:
        """Every single-event envelope, bulk deliveries unpacked."""
        found = []
        for body, _ in list(self.deliveries):
            found += body["data"] if body["event"] == "eventsink_bulk" else [body]
        return found

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.envelopes() if e["event"] == name]

    def wait(self, name: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.events(name)) >= count:
                return self.events(name)
            time.sleep(0.02)
        raise AssertionError(
            f"{name} x{count} not delivered: {[e['event'] for e in self.envelopes()]}"
        )


@pytest.fixture
def sink(simulator: Any) -> Iterator[Sink]:
    receiver = Sink()
    with BackgroundServer(receiver.app) as server:
        api = httpx.Client(base_url=simulator.url, auth=simulator.auth)
        body = {"name": "test", "url": server.url + "/pexip/events", "username": "node",
                "password": "pw", "version": 2}  # fmt: skip
        assert api.post(CONFIG + "event_sink/", json=body).status_code == 201
        uri = api.get(CONFIG + "event_sink/").json()["objects"][0]["resource_uri"]
        for location in api.get(CONFIG + "system_location/").json()["objects"]:
            api.patch(location["resource_uri"], json={"event_sinks": [uri]}).raise_for_status()
        yield receiver


def node(simulator: Any, command: str, **body: str) -> None:
    url = f"{simulator.url}/api/admin/command/v1/{command}/"
    httpx.post(url, json=body, auth=simulator.auth).raise_for_status()


def test_a_guest_in_a_locked_room_is_the_documented_lobby_sequence(
    simulator: Any, sink: Sink
) -> None:
    guest = simulator.control.arrive("board@example.com", "Gina Guest")
    updates = sink.wait("participant_updated")
    (connected,) = sink.events("participant_connected")
    assert connected["data"]["service_type"] == "connecting" and connected["data"]["uuid"] == guest
    assert updates[-1]["data"]["service_type"] == "waiting_room"
    node(simulator, "participant/unlock", participant_id=guest)
    admitted = sink.wait("participant_updated", 2)[-1]["data"]
    assert (admitted["uuid"], admitted["service_type"]) == (guest, "conference")


def test_envelopes_and_fields_are_the_real_nodes_and_nothing_more(
    simulator: Any, sink: Sink
) -> None:
    caller = simulator.control.arrive("vmr3@meet.example.com", "Nia Solo")  # VMR_3 starts
    sink.wait("participant_updated")
    node(simulator, "participant/mute", participant_id=caller)
    sink.wait("participant_updated", 2)
    node(simulator, "participant/disconnect", participant_id=caller)
    sink.wait("conference_ended")
    envelopes = sink.envelopes()
    assert all(set(e) == ENVELOPE_KEYS for e in envelopes)
    assert all(isinstance(e["time"], float) and e["version"] == 2 for e in envelopes)
    for name in ("participant_connected", "participant_updated"):
        assert all(set(e["data"]) == PARTICIPANT_KEYS for e in sink.events(name))
    (gone,) = sink.events("participant_disconnected")
    assert set(gone["data"]) == PARTICIPANT_KEYS | DISCONNECTED_EXTRA
    (ended,) = sink.events("conference_ended")
    assert set(ended["data"]) == CONFERENCE_KEYS | {"end_time"}
    assert all(set(e["data"]) == CONFERENCE_KEYS for e in sink.events("conference_started"))
    assert sink.events("participant_updated")[-1]["data"]["is_muted"] is True
    assert all(e["data"]["protocol"] == "WebRTC" for e in sink.events("participant_connected"))
    assert all(
        isinstance(e["data"]["start_time"], float) for e in sink.events("conference_started")
    )
    _, authorization = sink.deliveries[0]
    assert authorization == "Basic " + base64.b64encode(b"node:pw").decode()


def test_seq_starts_at_1_with_eventsink_started_and_counts_per_node(
    simulator: Any, sink: Sink
) -> None:
    simulator.control.arrive("vmr3@meet.example.com", "Oslo Caller", location="Oslo")
    simulator.control.arrive("vmr2@meet.example.com", "London Caller", location="London")
    sink.wait("participant_updated", 2)
    by_node: dict[str, list[dict[str, Any]]] = {}
    for envelope in sink.envelopes():
        by_node.setdefault(envelope["node"], []).append(envelope)
    assert set(by_node) == {"10.0.1.11", "10.0.2.11"}
    for envelopes in by_node.values():
        assert envelopes[0]["event"] == "eventsink_started" and envelopes[0]["seq"] == 1
        assert [e["seq"] for e in envelopes] == list(range(1, len(envelopes) + 1))


def test_deliveries_can_repeat_go_out_of_order_and_come_in_bulk(simulator: Any, sink: Sink) -> None:
    api = httpx.Client(base_url=simulator.url, auth=simulator.auth)
    uri = api.get(CONFIG + "event_sink/").json()["objects"][0]["resource_uri"]
    api.patch(uri, json={"bulk_support": True}).raise_for_status()
    simulator.control.event_delivery(duplicate_every=1, reverse=True)
    simulator.control.arrive("board@example.com", "Twice Guest")
    sink.wait("participant_updated", 2)
    bulk = [body for body, _ in sink.deliveries if body["event"] == "eventsink_bulk"]
    assert bulk and all((b["node"], b["seq"]) == ("127.0.0.1", 0) for b in bulk)
    seqs = [e["seq"] for e in sink.envelopes()]
    assert len(seqs) > len(set(seqs))  # repeated
    assert seqs != sorted(seqs)  # out of order
