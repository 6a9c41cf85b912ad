"""The Pexip management-node simulator, exercised over real HTTP with plain httpx."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.simulator import SimulatorHandle

STATUS = "/api/admin/status/v1/"
CONFIG = "/api/admin/configuration/v1/"
COMMAND = "/api/admin/command/v1/"
BACKUPS = f"{CONFIG}system_backup/"


@pytest.fixture
def http(simulator: SimulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, auth=simulator.auth, timeout=5) as client:
        yield client


def objects(http: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = http.get(path, params={"limit": 0, **params})
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["objects"]
    return result


def participant(http: httpx.Client, name: str) -> dict[str, Any]:
    (found,) = objects(http, f"{STATUS}participant/", display_name=name)
    return found


def conference_id(http: httpx.Client, name: str) -> str:
    (found,) = objects(http, f"{STATUS}conference/", name=name)
    return str(found["id"])


def command(http: httpx.Client, name: str, **data: Any) -> httpx.Response:
    """POST a command as the vendor's examples do: form-encoded."""
    return http.post(f"{COMMAND}{name}/", data=data)


def dial(http: httpx.Client, alias: str, destination: str) -> str:
    """Dial from London; the new participant's id."""
    response = command(
        http,
        "participant/dial",
        conference_alias=alias,
        destination=destination,
        system_location="London",
    )
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["participant_id"])


def transfer(http: httpx.Client, participant_id: str, alias: str, **extra: str) -> httpx.Response:
    fields = {"participant_id": participant_id, "conference_alias": alias, **extra}
    return command(http, "participant/transfer", **fields)


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def backup_names(http: httpx.Client) -> list[str]:
    return [b["filename"] for b in objects(http, BACKUPS)]


# -- auth and plumbing ----------------------------------------------------------------------


def test_basic_auth_is_required_on_the_vendor_api(simulator: SimulatorHandle) -> None:
    url = f"{simulator.url}{STATUS}conference/"
    missing = httpx.get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Basic realm="pexip"'
    assert httpx.get(url, auth=("admin", "wrong")).status_code == 401
    assert httpx.post(f"{simulator.url}{COMMAND}conference/lock/").status_code == 401
    assert httpx.get(url, auth=simulator.auth).status_code == 200
    assert httpx.get(f"{simulator.url}/_sim/stats").status_code == 200  # control: no auth


def test_unknown_urls_wrong_methods_and_bad_json(http: httpx.Client) -> None:
    assert http.get(f"{STATUS}nothing/").status_code == 404
    assert http.post(f"{COMMAND}participant/explode/").status_code == 404
    assert http.get(f"{COMMAND}participant/mute/").status_code == 405
    assert http.delete(f"{STATUS}conference/").status_code == 405
    bad = http.post(
        f"{COMMAND}participant/mute/",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400
    assert "error" in bad.json()


# -- status and configuration ----------------------------------------------------------------


def test_pagination_follows_next_links(http: httpx.Client) -> None:
    first = http.get(f"{STATUS}participant/", params={"limit": 3}).json()
    assert first["meta"]["total_count"] == 7
    assert first["meta"]["previous"] is None
    seen = [p["id"] for p in first["objects"]]
    page = first
    while page["meta"]["next"]:
        page = http.get(page["meta"]["next"]).json()
        seen += [p["id"] for p in page["objects"]]
    assert len(seen) == len(set(seen)) == 7
    assert page["meta"]["offset"] == 6
    assert page["meta"]["previous"] == f"{STATUS}participant/?limit=3&offset=3"
    default = http.get(f"{STATUS}participant/").json()["meta"]
    assert (default["limit"], default["next"]) == (20, None)
    everything = http.get(f"{STATUS}participant/", params={"limit": 0}).json()
    assert len(everything["objects"]) == 7
    assert everything["meta"]["next"] is None
    assert http.get(f"{STATUS}participant/", params={"limit": "x"}).status_code == 400


def test_next_link_keeps_the_filters(http: httpx.Client) -> None:
    page = http.get(f"{STATUS}participant/", params={"conference": "VMR_1", "limit": 2}).json()
    assert page["meta"]["total_count"] == 3
    rest = http.get(page["meta"]["next"]).json()
    assert [p["conference"] for p in rest["objects"]] == ["VMR_1"]


def test_filters(http: httpx.Client) -> None:
    in_vmr1 = objects(http, f"{STATUS}participant/", conference="VMR_1")
    assert {p["display_name"] for p in in_vmr1} == {"Alice Parkes", "Bob Smith", "Carol Diaz"}
    alices = objects(http, f"{STATUS}participant/", display_name__icontains="ali")
    assert {(p["display_name"], p["conference"]) for p in alices} == {
        ("Alice Parkes", "VMR_1"),
        ("Alice Cooper", "VMR_2"),
    }
    assert len(objects(http, f"{STATUS}participant/", display_name__startswith="Alice")) == 2
    assert objects(http, f"{STATUS}participant/", display_name__startswith="alice") == []
    assert len(objects(http, f"{STATUS}conference/", name__iexact="vmr_1")) == 1
    (locked,) = objects(http, f"{STATUS}conference/", is_locked="true")
    assert locked["name"] == "Board_Room"
    one = in_vmr1[0]
    assert objects(http, f"{STATUS}participant/", id=one["id"]) == [one]
    assert len(objects(http, f"{STATUS}participant/", no_such_field="x")) == 7  # ignored


def test_status_records(http: httpx.Client) -> None:
    alice = participant(http, "Alice Parkes")
    assert alice["role"] == "chair"
    assert alice["protocol"] == "SIP"
    assert alice["has_media"] is True
    assert alice["connect_time"].count(":") == 2 and "+" not in alice["connect_time"]
    assert alice["resource_uri"] == f"{STATUS}participant/{alice['id']}/"
    assert http.get(alice["resource_uri"]).json() == alice
    assert participant(http, "Carol Diaz")["protocol"] == "H323"
    assert participant(http, "Bob Smith")["protocol"] == "WebRTC"
    assert participant(http, "Eve Adams")["service_type"] == "waiting_room"
    assert participant(http, "Frank Ng")["service_type"] == "conference"
    assert http.get(f"{STATUS}participant/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert http.get(f"{STATUS}conference/{conference_id(http, 'VMR_2')}/").status_code == 200
    names = {c["name"] for c in objects(http, f"{STATUS}conference/")}
    assert names == {"VMR_1", "VMR_2", "Board_Room"}
    (node,) = objects(http, f"{STATUS}management_vm/")
    assert node["version"] == "36 (82470.0.0)" and "build" not in node


def test_configuration_alias_lookup(http: httpx.Client) -> None:
    (alias,) = objects(http, f"{CONFIG}conference_alias/", alias="meet@example.com")
    assert alias["conference"] == f"{CONFIG}conference/1/"
    service = http.get(alias["conference"]).json()
    assert service["name"] == "VMR_1"
    assert {a["alias"] for a in service["aliases"]} == {"meet@example.com", "vmr1@meet.example.com"}
    (town_hall,) = objects(http, f"{CONFIG}conference/", name="Town_Hall")
    assert town_hall["service_type"] == "lecture"
    locations = {loc["name"] for loc in objects(http, f"{CONFIG}system_location/")}
    assert locations == {"London", "Oslo", "New York"}
    assert len(objects(http, f"{CONFIG}conference_sync_template/")) == 2
    assert http.get(f"{CONFIG}conference/99/").status_code == 404


def test_reset_restores_the_seed_with_the_same_ids(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    before = conference_id(http, "VMR_1")
    assert command(http, "conference/disconnect", conference_id=before).status_code == 200
    assert objects(http, f"{STATUS}conference/", name="VMR_1") == []
    simulator.control.reset()
    assert conference_id(http, "VMR_1") == before


# -- commands ------------------------------------------------------------------------------


def test_dial_places_a_call_that_answers(http: httpx.Client) -> None:
    response = http.post(
        f"{COMMAND}participant/dial/",
        json={
            "conference_alias": "vmr3@meet.example.com",
            "destination": "sip:zoe@example.com",
            "remote_display_name": "Zoe",
            "system_location": "Oslo",
            "protocol": "h323",
            "role": "chair",
        },
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "success"
    new_id = body["data"]["participant_id"]
    assert body["data"]["participant_ids"] == [new_id]
    ringing = http.get(f"{STATUS}participant/{new_id}/").json()
    assert (ringing["has_media"], ringing["connect_time"]) == (False, None)
    assert ringing["conference"] == "VMR_3"
    assert (ringing["display_name"], ringing["role"], ringing["protocol"]) == (
        "Zoe",
        "chair",
        "H323",
    )
    assert (ringing["system_location"], ringing["call_direction"]) == ("Oslo", "out")
    assert conference_id(http, "VMR_3")  # the VMR was started
    wait_until(lambda: http.get(f"{STATUS}participant/{new_id}/").json()["has_media"])
    assert http.get(f"{STATUS}participant/{new_id}/").json()["connect_time"] is not None


def test_dial_noanswer_vanishes(http: httpx.Client) -> None:
    response = command(
        http,
        "participant/dial",
        conference_alias="townhall@example.com",
        destination="noanswer@example.com",
        node="10.0.1.11",
    )
    new_id = response.json()["data"]["participant_id"]
    assert http.get(f"{STATUS}participant/{new_id}/").status_code == 200
    wait_until(lambda: http.get(f"{STATUS}participant/{new_id}/").status_code == 404)
    assert objects(http, f"{STATUS}conference/", name="Town_Hall") == []


def test_dial_validation(http: httpx.Client) -> None:
    missing = command(http, "participant/dial", system_location="London")
    assert missing.status_code == 400
    assert missing.json() == {
        "conference_alias": ["This field is required."],
        "destination": ["This field is required."],
    }
    base = {"conference_alias": "meet@example.com", "destination": "bob"}
    fqdn = command(http, "participant/dial", node="node1.example.com", **base)
    assert fqdn.json() == {"node": ["Enter a valid IPv4 or IPv6 address."]}
    bad = command(http, "participant/dial", system_location="London", protocol="skype", **base)
    assert bad.status_code == 400
    assert bad.json() == {
        "protocol": ["Select a valid choice. skype is not one of the available choices."]
    }
    neither = command(http, "participant/dial", **base)
    assert neither.status_code == 400
    assert set(neither.json()) == {"error"}
    unknown = command(
        http, "participant/dial", conference_alias="nobody@x", destination="b", node="10.0.1.11"
    )
    assert unknown.status_code == 400
    assert "conference_alias" in unknown.json()


def test_dial_node_wins_over_location(http: httpx.Client) -> None:
    response = command(
        http,
        "participant/dial",
        conference_alias="meet@example.com",
        destination="bob",
        node="10.0.3.11",
        system_location="London",
    )
    new = http.get(f"{STATUS}participant/{response.json()['data']['participant_id']}/").json()
    assert (new["signalling_node"], new["system_location"]) == ("10.0.3.11", "New York")


def test_lock_holds_dialled_participant_until_admitted(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.settings(answer_delay=0)
    vmr2 = conference_id(http, "VMR_2")
    assert command(http, "conference/lock", conference_id=vmr2).status_code == 202
    assert http.get(f"{STATUS}conference/{vmr2}/").json()["is_locked"] is True
    dialled = [dial(http, "vmr2@meet.example.com", who) for who in ("ann", "ben")]

    def service_type(pid: str) -> str:
        return str(http.get(f"{STATUS}participant/{pid}/").json()["service_type"])

    assert [service_type(pid) for pid in dialled] == ["waiting_room", "waiting_room"]
    assert command(http, "participant/unlock", participant_id=dialled[0]).status_code == 202
    assert [service_type(pid) for pid in dialled] == ["conference", "waiting_room"]
    assert command(http, "conference/unlock", conference_id=vmr2).status_code == 202
    assert service_type(dialled[1]) == "conference"


def test_conference_unlock_admits_everyone_waiting(http: httpx.Client) -> None:
    board = conference_id(http, "Board_Room")
    assert command(http, "conference/unlock", conference_id=board).status_code == 202
    assert participant(http, "Eve Adams")["service_type"] == "conference"
    assert http.get(f"{STATUS}conference/{board}/").json()["is_locked"] is False


def test_transfer_moves_and_sets_role(http: httpx.Client) -> None:
    bob = participant(http, "Bob Smith")
    vmr2 = "vmr2@meet.example.com"
    response = transfer(http, bob["id"], vmr2, role="chair")
    assert response.status_code == 202
    moved = participant(http, "Bob Smith")
    assert (moved["id"], moved["conference"], moved["role"]) == (bob["id"], "VMR_2", "chair")
    carol = participant(http, "Carol Diaz")["id"]
    transfer(http, carol, "vmr3@meet.example.com")
    assert participant(http, "Carol Diaz")["conference"] == "VMR_3"  # VMR_3 started for her
    assert participant(http, "Carol Diaz")["role"] == "guest"


def test_disconnects(http: httpx.Client) -> None:
    dan = participant(http, "Dan Brown")["id"]
    response = command(http, "participant/disconnect", participant_id=dan)
    assert response.status_code == 200
    assert response.json()["status"] == "success"
    assert http.get(f"{STATUS}participant/{dan}/").status_code == 404
    alice = participant(http, "Alice Cooper")["id"]
    command(http, "participant/disconnect", participant_id=alice)
    assert objects(http, f"{STATUS}conference/", name="VMR_2") == []  # last one left
    vmr1 = conference_id(http, "VMR_1")
    assert command(http, "conference/disconnect", conference_id=vmr1).status_code == 200
    assert objects(http, f"{STATUS}participant/", conference="VMR_1") == []
    assert http.get(f"{STATUS}conference/{vmr1}/").status_code == 404


def test_mute_and_mute_guests(simulator: SimulatorHandle, http: httpx.Client) -> None:
    simulator.control.settings(answer_delay=0)
    alice = participant(http, "Alice Parkes")["id"]
    assert command(http, "participant/mute", participant_id=alice).status_code == 202
    assert participant(http, "Alice Parkes")["is_muted"] is True
    command(http, "participant/unmute", participant_id=alice)
    assert participant(http, "Alice Parkes")["is_muted"] is False
    vmr1 = conference_id(http, "VMR_1")
    assert command(http, "conference/mute_guests", conference_id=vmr1).status_code == 202
    assert http.get(f"{STATUS}conference/{vmr1}/").json()["guests_muted"] is True
    muted = {
        p["display_name"]: p["is_muted"]
        for p in objects(http, f"{STATUS}participant/", conference="VMR_1")
    }
    assert muted == {"Alice Parkes": False, "Bob Smith": True, "Carol Diaz": True}
    late = dial(http, "meet@example.com", "late")
    assert http.get(f"{STATUS}participant/{late}/").json()["is_muted"] is True
    command(http, "conference/unmute_guests", conference_id=vmr1)
    assert participant(http, "Bob Smith")["is_muted"] is False


def test_unknown_ids_get_the_vendor_error(http: httpx.Client) -> None:
    nobody = "00000000-0000-0000-0000-000000000001"
    for name in ("mute", "unmute", "disconnect", "unlock"):
        response = command(http, f"participant/{name}", participant_id=nobody)
        assert response.status_code == 400
        assert response.json() == {"participant_id": ["Failed to find participant."]}
    for name in ("lock", "unlock", "disconnect", "mute_guests", "unmute_guests"):
        response = command(http, f"conference/{name}", conference_id="1")  # a config id
        assert response.status_code == 400
        assert response.json() == {"conference_id": ["Failed to find conference."]}
    missing = command(http, "participant/mute")
    assert missing.json() == {"participant_id": ["This field is required."]}


def test_sync(http: httpx.Client) -> None:
    assert command(http, "conference/sync", conference_sync_template_id="2").status_code == 202
    unknown = command(http, "conference/sync", conference_sync_template_id="42")
    assert unknown.status_code == 400
    assert "Failed to find" in unknown.json()["conference_sync_template_id"][0]


# -- backups -------------------------------------------------------------------------------


def test_seeded_backups(http: httpx.Client) -> None:
    backups = objects(http, BACKUPS)
    assert [(b["version"], b["date"][11:]) for b in backups] == [("35", "02:00:00")] + [
        ("36", "02:00:00")
    ] * 3
    newest = backups[-1]
    assert newest["filename"].startswith("pexip_backup_pexmgr_36_82470.0.0_")
    assert newest["filename"].endswith(".tar.gpg")
    assert newest["resource_uri"] == f"{BACKUPS}{newest['filename']}/"


def test_backup_create_appears_after_the_delay(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.settings(backup_delay=0.4)
    assert command(http, "platform/backup_create").json() == {
        "passphrase": ["This field is required."]
    }
    before = backup_names(http)
    assert command(http, "platform/backup_create", passphrase="s3cret").status_code == 202
    assert backup_names(http) == before
    wait_until(lambda: len(backup_names(http)) == len(before) + 1)


def test_download_streams_the_exact_size_and_delete(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    backup = simulator.control.add_backup(5 * 1024 * 1024 + 17)
    url = backup["resource_uri"]
    size = 0
    with http.stream("GET", url) as response:
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-length"] == str(backup["size"])
        for n, chunk in enumerate(response.iter_bytes()):
            if n == 0:
                assert chunk.startswith(f"PEXIPSIMBACKUP {backup['filename']} 36 ".encode())
            size += len(chunk)
    assert size == backup["size"]
    small = objects(http, BACKUPS)[0]["resource_uri"]
    assert http.get(small).content == http.get(small).content  # deterministic
    assert http.delete(url).status_code == 204
    assert http.get(url).status_code == 404
    assert backup["filename"] not in backup_names(http)


def restore(http: httpx.Client, package: bytes, passphrase: str) -> httpx.Response:
    return http.post(
        f"{COMMAND}platform/backup_restore/",
        data={"passphrase": passphrase},
        files={"package": ("backup.tar.gpg", package)},
    )


def test_backup_restore(simulator: SimulatorHandle, http: httpx.Client) -> None:
    old, *current = objects(http, BACKUPS)
    package = http.get(current[-1]["resource_uri"]).content
    assert restore(http, package, "pexbot-demo").status_code == 202
    wrong = restore(http, package, "guess")
    assert wrong.status_code == 400
    assert "passphrase" in wrong.json()["error"]
    older = restore(http, http.get(old["resource_uri"]).content, "pexbot-demo")
    assert older.status_code == 400
    assert "version" in older.json()["error"]
    assert restore(http, b"GIF89a garbage", "pexbot-demo").status_code == 400
    assert restore(http, package[:-10], "pexbot-demo").status_code == 400  # truncated
    missing = http.post(f"{COMMAND}platform/backup_restore/", files={"passphrase": (None, "x")})
    assert missing.json() == {"package": ["This field is required."]}
    simulator.control.settings(version="37", build="90000.0.0")  # the node was upgraded
    assert restore(http, package, "pexbot-demo").status_code == 400


# -- faults --------------------------------------------------------------------------------


def test_fault_status_with_retry_after_and_times(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.add_fault(path=f"{STATUS}conference/", status=503, retry_after="2", times=1)
    failed = http.get(f"{STATUS}conference/")
    assert failed.status_code == 503
    assert failed.headers["retry-after"] == "2"
    assert http.get(f"{STATUS}conference/").status_code == 200
    simulator.control.add_fault(method="POST", status=500, body={"error": "boom"})
    assert http.get(f"{STATUS}participant/").status_code == 200  # GET does not match
    assert command(http, "participant/mute").json() == {"error": "boom"}
    simulator.control.clear_faults()
    assert command(http, "conference/sync", conference_sync_template_id=1).status_code == 202


async def test_fault_latency_does_not_block_others(simulator: SimulatorHandle) -> None:
    simulator.control.add_fault(path=f"{STATUS}conference/", latency=0.5)
    async with httpx.AsyncClient(base_url=simulator.url, auth=simulator.auth) as client:
        started = time.monotonic()
        slow = asyncio.create_task(client.get(f"{STATUS}conference/"))
        await asyncio.sleep(0.05)
        fast = await client.get(f"{STATUS}participant/")
        assert fast.status_code == 200
        assert not slow.done()  # answered while the slow one still waits
        assert (await slow).status_code == 200
        assert time.monotonic() - started >= 0.5


def test_fault_latency_a_client_that_gives_up_does_not_stop_the_command(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.add_fault(method="POST", latency=0.3)
    alice = participant(http, "Alice Parkes")["id"]
    with pytest.raises(httpx.ReadTimeout):
        http.post(f"{COMMAND}participant/mute/", data={"participant_id": alice}, timeout=0.1)
    wait_until(lambda: bool(simulator.control.stats()["commands"]))
    (received,) = simulator.control.stats()["commands"]
    assert (received["body"], received["status"]) == ({"participant_id": alice}, 202)
    assert participant(http, "Alice Parkes")["is_muted"] is True


def test_fault_drop(simulator: SimulatorHandle, http: httpx.Client) -> None:
    simulator.control.add_fault(drop=True, times=1)
    with pytest.raises(httpx.TransportError):
        http.get(f"{STATUS}conference/")
    assert http.get(f"{STATUS}conference/").status_code == 200


def test_fault_drop_mid_response_after_the_command_ran(
    simulator: SimulatorHandle, http: httpx.Client
) -> None:
    simulator.control.add_fault(path=f"{COMMAND}participant/disconnect/", drop_mid_response=True)
    dan = participant(http, "Dan Brown")["id"]
    with pytest.raises(httpx.RemoteProtocolError):
        command(http, "participant/disconnect", participant_id=dan)
    assert http.get(f"{STATUS}participant/{dan}/").status_code == 404
    url = objects(http, BACKUPS)[0]["resource_uri"]
    simulator.control.add_fault(path=url, drop_mid_response=True)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(url)


def test_fault_malformed_and_login_redirect(simulator: SimulatorHandle, http: httpx.Client) -> None:
    simulator.control.add_fault(malformed=True, times=1)
    response = http.get(f"{STATUS}conference/")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    simulator.control.add_fault(login_redirect=True, times=1)
    redirected = http.get(f"{STATUS}conference/")
    assert redirected.status_code == 302
    assert redirected.headers["location"] == f"/admin/login/?next={STATUS}conference/"


def test_faults_spare_the_control_api_and_reject_bad_rules(simulator: SimulatorHandle) -> None:
    simulator.control.add_fault(path="/", status=500)
    assert simulator.control.stats()["requests_total"] == 0
    with pytest.raises(RuntimeError):
        simulator.control.add_fault(status=500, drop=True)
    with pytest.raises(RuntimeError):
        simulator.control.add_fault()


# -- statistics ----------------------------------------------------------------------------


def test_stats_count_requests_and_commands(simulator: SimulatorHandle, http: httpx.Client) -> None:
    http.get(f"{STATUS}conference/", params={"name": "VMR_1"})
    http.get(f"{STATUS}conference/")
    vmr1 = conference_id(http, "VMR_1")
    command(http, "conference/lock", conference_id=vmr1)
    http.post(f"{COMMAND}conference/unlock/", json={"conference_id": "nope"})
    stats = simulator.control.stats()
    assert stats["requests"][f"GET {STATUS}conference/"] == 3
    assert stats["requests_total"] == 5
    assert stats["commands"] == [
        {
            "command": "conference/lock",
            "path": f"{COMMAND}conference/lock/",
            "body": {"conference_id": vmr1},
            "status": 202,
        },
        {
            "command": "conference/unlock",
            "path": f"{COMMAND}conference/unlock/",
            "body": {"conference_id": "nope"},
            "status": 400,
        },
    ]
    simulator.control.reset_stats()
    assert simulator.control.stats()["requests_total"] == 0


def test_stats_count_connections(simulator: SimulatorHandle, http: httpx.Client) -> None:
    for _ in range(5):
        http.get(f"{STATUS}conference/")
    assert simulator.control.stats()["connections"] == 1
    simulator.control.reset_stats()
    for _ in range(4):
        with httpx.Client(auth=simulator.auth) as fresh:
            fresh.get(f"{simulator.url}{STATUS}conference/")
    assert simulator.control.stats()["connections"] == 4


async def test_stats_in_flight_maximum(simulator: SimulatorHandle) -> None:
    simulator.control.add_fault(latency=0.5)
    async with httpx.AsyncClient(base_url=simulator.url, auth=simulator.auth) as client:
        responses = await asyncio.gather(*(client.get(f"{STATUS}conference/") for _ in range(5)))
    assert all(r.status_code == 200 for r in responses)
    stats = simulator.control.stats()
    assert (stats["max_in_flight"], stats["in_flight"]) == (5, 0)


# -- TLS -----------------------------------------------------------------------------------


def test_https_with_a_private_ca(tls_simulator: SimulatorHandle) -> None:
    assert tls_simulator.url.startswith("https://")
    assert tls_simulator.ca_bundle is not None
    url = f"{tls_simulator.url}{STATUS}conference/"
    trusted = ssl.create_default_context(cafile=tls_simulator.ca_bundle)
    assert httpx.get(url, auth=tls_simulator.auth, verify=trusted).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, auth=tls_simulator.auth)
