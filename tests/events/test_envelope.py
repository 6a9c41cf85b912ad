"""What a node POSTs to an event sink, read as real-node-facts §6 describes it: v1 and v2
envelopes, bulk deliveries of complete envelopes, and what is malformed."""

from __future__ import annotations

import json

import pytest

from bot.events.envelope import Malformed, read

PARTICIPANT = {"uuid": "3f1c2a9e", "conference": "Team Standup", "service_type": "waiting_room"}


def envelope(event: str, seq: int, data: object, version: int = 2) -> dict[str, object]:
    return {
        "node": "10.20.1.11",
        "seq": seq,
        "version": version,
        "time": 1741083302.51,
        "event": event,
        "data": data,
    }


@pytest.mark.parametrize("version", [1, 2])
def test_a_single_envelope_of_either_version(version: int) -> None:
    (event,) = read(json.dumps(envelope("participant_updated", 57, PARTICIPANT, version)).encode())
    assert (event.node, event.seq, event.name, event.version) == (
        "10.20.1.11",
        57,
        "participant_updated",
        version,
    )
    assert event.conference == "Team Standup" and event.participant == "3f1c2a9e"


def test_a_bulk_delivery_is_its_envelopes_in_order_each_with_its_own_node_and_seq() -> None:
    inner = [
        envelope("conference_started", 3, {"name": "Team Standup"}),
        envelope("participant_connected", 4, PARTICIPANT),
    ]
    bulk = {"node": "127.0.0.1", "seq": 0, "version": 2, "time": 1.0, "event": "eventsink_bulk"}
    events = read(json.dumps({**bulk, "data": inner}).encode())
    assert [(e.name, e.seq, e.node) for e in events] == [
        ("conference_started", 3, "10.20.1.11"),
        ("participant_connected", 4, "10.20.1.11"),
    ]
    assert events[0].conference == "Team Standup"


def test_sink_lifecycle_events_of_both_names_are_read_and_about_no_conference() -> None:
    for name in ("eventsink_started", "eventsink_stopped", "eventsink_ended"):
        (event,) = read(json.dumps(envelope(name, 1, {})).encode())
        assert event.conference is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({**envelope("participant_updated", 1, PARTICIPANT), "seq": "one"}).encode(),
        json.dumps({**envelope("participant_updated", 1, PARTICIPANT), "node": ""}).encode(),
        json.dumps(envelope("participant_updated", 1, ["not", "an", "object"])).encode(),
        json.dumps({**envelope("participant_updated", 1, PARTICIPANT), "time": "noon"}).encode(),
        json.dumps({"event": "eventsink_bulk", "node": "127.0.0.1", "seq": 0, "data": {}}).encode(),
    ],
    ids=["not JSON", "an array", "seq text", "no node", "data list", "time text", "bulk object"],
)
def test_what_is_not_an_envelope_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        read(body)
