"""The simulator answers with a real management node's shapes, field for field.

The tables below are written from shared/pexip-docs/real-node-facts.md, not from the simulator:
a field the real node lacks, or one it sends and the simulator forgets, fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.simulator import SimulatorHandle

STATUS = "/api/admin/status/v1/"
CONFIG = "/api/admin/configuration/v1/"

# facts §1, the participant table (every row, `is_*_supported` and the bandwidth trio included)
PARTICIPANT = {
    "id", "call_uuid", "conversation_id", "conference", "service_type", "service_tag",
    "call_tag", "display_name", "source_alias", "destination_alias", "participant_alias",
    "role", "call_direction", "protocol", "connect_time", "has_media", "is_muted",
    "is_client_muted", "is_on_hold", "is_presenting", "is_streaming", "is_recording",
    "is_transcribing", "is_direct", "is_disconnect_supported", "is_mute_supported",
    "is_transfer_supported", "is_presentation_supported", "is_idp_authenticated", "idp_uuid",
    "encryption", "call_quality", "bandwidth", "rx_bandwidth", "tx_bandwidth", "license_count",
    "license_type", "media_node", "signalling_node", "proxy_node", "system_location",
    "remote_address", "remote_port", "vendor", "transcoding_enabled", "parent_id",
    "resource_uri",
}  # fmt: skip
# facts §2
CONFERENCE = {
    "id", "name", "service_type", "is_locked", "is_started", "guests_muted",
    "direct_media_available", "start_time", "tag", "resource_uri",
}  # fmt: skip
# facts §3: no `build`, no hostname, uptime, cpu_load or status
MANAGEMENT_VM = {
    "id", "configuration_id", "name", "primary", "version", "sync_status", "upgrade_status",
    "last_updated", "last_attempted_contact", "resource_uri",
}  # fmt: skip
SYSTEM_BACKUP = {
    "filename", "version", "build", "date", "size", "type", "sha256sum", "resource_uri",
}  # fmt: skip
# facts §4 (v29 and later: no deploy_error, deploy_progress, last_reported)
WORKER_VM = {
    "id", "configuration_id", "name", "system_location", "node_type", "version",
    "maintenance_mode", "maintenance_mode_reason", "media_load", "media_tokens_used",
    "max_media_tokens", "max_audio_calls", "max_sd_calls", "max_hd_calls", "max_full_hd_calls",
    "max_direct_participants", "signaling_count", "sync_status", "upgrade_status",
    "deploy_status", "boot_time", "last_updated", "last_attempted_contact", "cpu_count",
    "cpu_model", "cpu_capabilities", "hypervisor", "total_ram", "resource_uri",
}  # fmt: skip
ALARM = {
    "id", "identifier", "name", "details", "instance", "node", "acknowledged", "time_raised",
    "level", "resource_uri",
}  # fmt: skip
LICENSING = {
    *(f"{kind}_{part}" for kind in (
        "port", "audio", "system", "vmr", "teams", "ghm", "otj", "scheduling", "telehealth"
    ) for part in ("count", "total")),
    "customlayouts_active", "googletrustedjoin_active", "zoomtrustedjoin_active",
}  # fmt: skip
# The facts file names only `event_sinks` on a system location and nothing of an alias: these
# two are what a real node most plausibly sends (the schema's help names these fields).
SYSTEM_LOCATION = {"id", "name", "description", "event_sinks", "resource_uri"}
CONFERENCE_ALIAS = {"id", "alias", "conference", "description", "creation_time", "resource_uri"}

NAIVE_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
VERSION = re.compile(r"^([\d.]+) \(([\d.]+)\)$")
STRINGS_NEVER_NULL = (
    "id", "call_uuid", "conversation_id", "conference", "service_type", "service_tag",
    "call_tag", "display_name", "source_alias", "destination_alias", "participant_alias",
    "role", "call_direction", "protocol", "encryption", "call_quality", "license_type",
    "signalling_node", "proxy_node", "system_location", "remote_address", "vendor", "parent_id",
)  # fmt: skip


@pytest.fixture
def http(simulator: SimulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, auth=simulator.auth, timeout=5) as client:
        yield client


def listing(http: httpx.Client, path: str) -> list[dict[str, Any]]:
    response = http.get(path, params={"limit": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"meta", "objects"}
    objects: list[dict[str, Any]] = body["objects"]
    return objects


def dial(http: httpx.Client, **fields: Any) -> str:
    response = http.post(
        "/api/admin/command/v1/participant/dial/",
        json={"conference_alias": "vmr3@meet.example.com", "system_location": "Oslo", **fields},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["participant_id"])


def dial_stream(http: httpx.Client) -> str:
    return dial(
        http, destination="rtmp://live.example.com/app/key", protocol="rtmp", streaming=True
    )


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        (f"{STATUS}participant/", PARTICIPANT),
        (f"{STATUS}conference/", CONFERENCE),
        (f"{STATUS}management_vm/", MANAGEMENT_VM),
        (f"{STATUS}worker_vm/", WORKER_VM),
        (f"{STATUS}licensing/", LICENSING),
        (f"{CONFIG}system_backup/", SYSTEM_BACKUP),
        (f"{CONFIG}system_location/", SYSTEM_LOCATION),
        (f"{CONFIG}conference_alias/", CONFERENCE_ALIAS),
    ],
)
def test_every_object_has_the_real_field_set(
    http: httpx.Client, path: str, fields: set[str]
) -> None:
    objects = listing(http, path)
    assert objects
    for obj in objects:
        assert set(obj) == fields, path
        if "resource_uri" in fields and "id" in fields:
            detail = http.get(obj["resource_uri"]).json()
            assert set(detail) == fields and detail["id"] == obj["id"]


def test_a_raised_alarm_has_the_real_field_set(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.raise_alarm("Licenses expiring", details="14 days left", level="warning")
    (alarm,) = listing(http, f"{STATUS}alarm/")
    assert set(alarm) == ALARM
    assert NAIVE_UTC.match(alarm["time_raised"])


def test_a_call_being_placed_and_a_stream_have_the_real_field_set(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.settings(answer_delay=30)
    ringing = http.get(f"{STATUS}participant/{dial(http, destination='zed@example.com')}/").json()
    stream = http.get(f"{STATUS}participant/{dial_stream(http)}/").json()
    for obj in (ringing, stream):
        assert set(obj) == PARTICIPANT


def test_values_are_written_as_the_real_node_writes_them(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    dial(http, destination="zed@example.com")
    people = listing(http, f"{STATUS}participant/")
    for person in people:
        assert person["protocol"] in {"SIP", "H323", "WebRTC", "MSSIP", "TEAMS", "RTMP", "GMS"}
        assert person["role"] in {"chair", "guest"}
        assert person["call_direction"] in {"in", "out"}
        assert person["encryption"] in {"On", "Off"}
        assert all(isinstance(person[name], str) for name in STRINGS_NEVER_NULL)
        assert person["connect_time"] is None or NAIVE_UTC.match(person["connect_time"])
        assert person["conference"] in {"VMR_1", "VMR_2", "Board_Room", "VMR_3"}  # a name
    # connected with `has_media: false` exists, as on real nodes (facts §1)
    bob = next(p for p in people if p["display_name"] == "Bob Smith")
    assert (bob["service_type"], bob["has_media"]) == ("conference", False)
    assert bob["connect_time"] is not None
    ringing = next(p for p in people if p["display_name"] == "zed@example.com")
    assert (ringing["service_type"], ringing["connect_time"]) == ("connecting", None)
    (node,) = listing(http, f"{STATUS}management_vm/")
    assert VERSION.match(node["version"]) and node["primary"] is True
    for worker in listing(http, f"{STATUS}worker_vm/"):
        assert VERSION.match(worker["version"]) and worker["node_type"] == "CONFERENCING"
        assert worker["maintenance_mode_reason"] == ""
    for backup in listing(http, f"{CONFIG}system_backup/"):
        assert re.fullmatch(r"\d+", backup["version"]) and re.fullmatch(r"[\d.]+", backup["build"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", backup["date"])
    for conference in listing(http, f"{STATUS}conference/"):
        assert NAIVE_UTC.match(conference["start_time"]) and conference["tag"] == ""


def test_guests_alone_wait_for_the_host(http: httpx.Client) -> None:
    dial(http, destination="guest@example.com", role="guest")
    conference = listing(http, f"{STATUS}conference/?name=VMR_3")
    (vmr3,) = [c for c in conference if c["name"] == "VMR_3"]
    assert vmr3["is_started"] is False
    assert all(c["is_started"] for c in conference if c["name"] != "VMR_3")


def test_a_stream_is_streaming_and_cannot_be_muted_or_transferred(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    stream = http.get(f"{STATUS}participant/{dial_stream(http)}/").json()
    assert (stream["protocol"], stream["call_direction"], stream["is_streaming"]) == (
        "RTMP",
        "out",
        True,
    )
    assert (stream["is_mute_supported"], stream["is_transfer_supported"]) == (False, False)
    assert stream["is_disconnect_supported"] is True


# -- node-health hooks -----------------------------------------------------------------------


def test_a_cleared_alarm_leaves_the_list_for_the_history(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    assert listing(http, f"{STATUS}alarm/") == []
    first = simulator.control.raise_alarm("Call capacity limit reached", node="10.0.1.11")
    simulator.control.raise_alarm("Licenses expiring", level="warning")
    raised = listing(http, f"{STATUS}alarm/")
    assert [(a["name"], a["level"], a["acknowledged"]) for a in raised] == [
        ("Call capacity limit reached", "error", False),
        ("Licenses expiring", "warning", False),
    ]
    assert raised[0]["node"] == "10.0.1.11"
    simulator.control.clear_alarm(first)
    assert [a["name"] for a in listing(http, f"{STATUS}alarm/")] == ["Licenses expiring"]
    (lowered,) = listing(http, "/api/admin/history/v1/alarm/")
    assert set(lowered) == ALARM | {"time_lowered"}
    assert lowered["name"] == "Call capacity limit reached"
    assert NAIVE_UTC.match(lowered["time_lowered"])
    with pytest.raises(RuntimeError, match="no such raised alarm"):
        simulator.control.clear_alarm(first)


def test_licensing_is_one_object_and_its_use_can_change(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    body = http.get(f"{STATUS}licensing/").json()
    assert body["meta"]["total_count"] == 1 and len(body["objects"]) == 1
    (before,) = body["objects"]
    assert before["port_count"] == 6  # the seeded calls up, Eve (waiting) not counted
    assert before["port_total"] == 100
    simulator.control.set_licences(port_count=95, vmr_count=49)
    (after,) = listing(http, f"{STATUS}licensing/")
    assert (after["port_count"], after["vmr_count"], after["port_total"]) == (95, 49, 100)
    with pytest.raises(RuntimeError, match="not a licensing field: build"):
        simulator.control.set_licences(build=1)


def test_a_node_goes_into_maintenance_and_back(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.set_worker(
        4, maintenance_mode=True, maintenance_mode_reason="Hypervisor patching"
    )
    osl = http.get(f"{STATUS}worker_vm/4/").json()
    assert (osl["name"], osl["maintenance_mode"], osl["maintenance_mode_reason"]) == (
        "pexconf-osl-1",
        True,
        "Hypervisor patching",
    )
    others = [w for w in listing(http, f"{STATUS}worker_vm/") if w["id"] != 4]
    assert not any(w["maintenance_mode"] for w in others)
    simulator.control.set_worker(4, maintenance_mode=False, sync_status="SYNCING")
    osl = http.get(f"{STATUS}worker_vm/4/").json()
    assert (osl["maintenance_mode"], osl["maintenance_mode_reason"], osl["sync_status"]) == (
        False,
        "",
        "SYNCING",
    )
    with pytest.raises(RuntimeError, match="no such worker_vm"):
        simulator.control.set_worker(99, maintenance_mode=True)


def test_reset_clears_the_health_hooks(simulator: SimulatorHandle, http: httpx.Client) -> None:
    simulator.control.raise_alarm("Licenses expiring")
    simulator.control.set_licences(port_count=99)
    simulator.control.set_worker(2, maintenance_mode=True)
    simulator.control.reset()
    assert listing(http, f"{STATUS}alarm/") == []
    assert listing(http, f"{STATUS}licensing/")[0]["port_count"] == 6
    assert http.get(f"{STATUS}worker_vm/2/").json()["maintenance_mode"] is False
