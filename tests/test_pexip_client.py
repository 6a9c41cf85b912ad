"""The management client against the simulator over real HTTP(S): what reaches the node, what
comes back, and how failures are told apart."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from bot import messages
from bot.command_queue import CommandQueue
from bot.config import PexipSettings
from bot.pexip import backups, commands, configuration, errors, lookup, status
from bot.pexip.client import GiveWay, PexipClient, RetryPolicy
from bot.pexip.models import ManagementNode, SystemBackup
from tests.fixtures import real_node
from tests.fixtures.simulator import CERTIFICATE_NAMES

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_wait=2.0)


def settings_for(sim: Any, **overrides: Any) -> PexipSettings:
    values: dict[str, Any] = {
        "manager_url": sim.url,
        "username": sim.username,
        "password": SecretStr(sim.password),
        "timeout": 5.0,
        "max_concurrency": 1,
    }
    values.update(overrides)
    return PexipSettings(**values)


@pytest.fixture
async def make_client(simulator: Any) -> AsyncIterator[Callable[..., PexipClient]]:
    made: list[PexipClient] = []

    def make(sim: Any = simulator, page_size: int = 100, **overrides: Any) -> PexipClient:
        client = PexipClient(settings_for(sim, **overrides), retry=FAST_RETRY, page_size=page_size)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(make_client: Callable[..., PexipClient]) -> PexipClient:
    return make_client()


async def participant_named(client: PexipClient, name: str) -> Any:
    found = [p for p in await status.participants(client) if p.display_name == name]
    assert found, f"seeded participant {name} missing"
    return found[0]


def commands_received(simulator: Any) -> list[dict[str, Any]]:
    return list(simulator.control.stats()["commands"])


# --- reads -----------------------------------------------------------------------------------


async def test_lists_running_conferences_only(client: PexipClient) -> None:
    names = {conference.name for conference in await status.running_conferences(client)}
    assert {"VMR_1", "VMR_2", "Board_Room"} <= names
    assert "VMR_3" not in names  # configured, nobody in it


async def test_pagination_follows_next_links(
    make_client: Callable[..., PexipClient], simulator: Any
) -> None:
    paged = make_client(page_size=2)
    everyone = await status.participants(paged)
    assert len(everyone) >= 7
    assert len({p.id for p in everyone}) == len(everyone)
    pages = sum(
        count
        for key, count in simulator.control.stats()["requests"].items()
        if key.startswith("GET /api/admin/status/v1/participant/")
    )
    assert pages == -(-len(everyone) // 2)


async def test_participants_of_one_conference(client: PexipClient) -> None:
    vmr1 = await status.participants(client, "VMR_1")
    assert {p.display_name for p in vmr1} == {"Alice Parkes", "Bob Smith", "Carol Diaz"}
    assert all(p.conference == "VMR_1" for p in vmr1)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("VMR_1", "VMR_1"),
        ("vmr_1", "VMR_1"),
        ("meet@example.com", "VMR_1"),
        ("board@example.com", "Board_Room"),
    ],
)
async def test_find_conference_by_name_or_alias(
    client: PexipClient, typed: str, expected: str
) -> None:
    assert (await lookup.find_running_conference(client, typed)).name == expected


async def test_find_conference_by_instance_id(client: PexipClient) -> None:
    running = await status.conference_by_name(client, "VMR_2")
    assert running is not None
    assert (await lookup.find_running_conference(client, running.id)).name == "VMR_2"


async def test_idle_and_unknown_conferences_are_told_apart(client: PexipClient) -> None:
    with pytest.raises(errors.NotFound, match=r"VMR_3 .*is not running"):
        await lookup.find_running_conference(client, "vmr3@meet.example.com")
    with pytest.raises(errors.NotFound, match=r"no running conference matching nowhere@example"):
        await lookup.find_running_conference(client, "nowhere@example.com")
    with pytest.raises(errors.NotFound, match="no running conference has the id"):
        await lookup.find_running_conference(client, "00000000-0000-0000-0000-00000000abcd")


async def test_aliases_of_a_configured_conference(client: PexipClient) -> None:
    vmr1 = await configuration.configured_conference(client, "VMR_1")
    assert vmr1 is not None
    assert set(vmr1.alias_names) == {"meet@example.com", "vmr1@meet.example.com"}
    assert {loc.name for loc in await configuration.system_locations(client)} >= {"London", "Oslo"}


async def test_the_node_version_is_read_as_the_node_writes_it(client: PexipClient) -> None:
    node = await status.primary_management_node(client)
    assert (node.name, node.primary, node.version) == ("pexmgr", True, "36 (82470.0.0)")
    assert node.release_and_build == ("36", "82470.0.0")


# --- commands: what reaches the node -----------------------------------------------------------


async def test_every_command_sends_the_vendor_body(
    client: PexipClient, simulator: Any, tmp_path: Path
) -> None:
    alice = await participant_named(client, "Alice Parkes")
    bob = await participant_named(client, "Bob Smith")
    vmr1 = await status.conference_by_name(client, "VMR_1")
    assert vmr1 is not None
    backup = (await backups.list_backups(client))[0]
    package = (await backups.download_backup(client, backup.filename, tmp_path / "b.tar.gpg")).path

    sent: list[tuple[commands.Command, dict[str, Any]]] = [
        (commands.MuteParticipant(participant_id=alice.id), {"participant_id": alice.id}),
        (commands.UnmuteParticipant(participant_id=alice.id), {"participant_id": alice.id}),
        (commands.MuteGuests(conference_id=vmr1.id), {"conference_id": vmr1.id}),
        (commands.UnmuteGuests(conference_id=vmr1.id), {"conference_id": vmr1.id}),
        (commands.LockConference(conference_id=vmr1.id), {"conference_id": vmr1.id}),
        (
            commands.Dial(
                conference_alias="meet@example.com",
                destination="sip:zed@example.com",
                system_location="London",
                remote_display_name="Zed",
                role="chair",
                protocol="sip",
            ),
            {
                "conference_alias": "meet@example.com",
                "destination": "sip:zed@example.com",
                "system_location": "London",
                "remote_display_name": "Zed",
                "role": "chair",
                "protocol": "sip",
                "call_type": "video",
            },
        ),
        (commands.UnlockConference(conference_id=vmr1.id), {"conference_id": vmr1.id}),
        (
            commands.TransferParticipant(
                participant_id=bob.id, conference_alias="vmr2@meet.example.com", role="chair"
            ),
            {
                "participant_id": bob.id,
                "conference_alias": "vmr2@meet.example.com",
                "role": "chair",
            },
        ),
        (
            commands.SyncTemplate(conference_sync_template_id="1"),
            {"conference_sync_template_id": "1"},
        ),
        (commands.DisconnectParticipant(participant_id=alice.id), {"participant_id": alice.id}),
        (commands.BackupCreate(passphrase=SecretStr("pexbot-demo")), {"passphrase": "pexbot-demo"}),
        (
            commands.BackupRestore(passphrase=SecretStr("pexbot-demo"), package=package),
            {"passphrase": "pexbot-demo"},
        ),
        (commands.DisconnectConference(conference_id=vmr1.id), {"conference_id": vmr1.id}),
    ]
    for command, _ in sent:
        result = await client.command(command)
        assert result.status == "success", command.operation

    received = commands_received(simulator)
    assert [entry["path"] for entry in received] == [
        "/api/admin/command/v1/" + command.path for command, _ in sent
    ]
    for (command, body), entry in zip(sent, received, strict=True):
        for key, value in body.items():
            assert entry["body"][key] == value, (command.operation, key)


async def test_unlock_participant_admits_from_the_waiting_room(client: PexipClient) -> None:
    eve = await participant_named(client, "Eve Adams")
    assert eve.is_waiting
    await client.command(commands.UnlockParticipant(participant_id=eve.id))
    assert not (await status.participant_by_id(client, eve.id)).is_waiting


async def test_dial_returns_the_new_participant(client: PexipClient) -> None:
    result = await client.command(
        commands.Dial(
            conference_alias="vmr3@meet.example.com",
            destination="alice@example.com",
            system_location="Oslo",
        )
    )
    assert result.participant_id
    dialled = await status.participant_by_id(client, result.participant_id)
    assert dialled.conference == "VMR_3"  # dialling out started the idle VMR


def test_commands_validate_before_sending() -> None:
    with pytest.raises(ValidationError, match="node"):
        commands.Dial(conference_alias="a@b", destination="x", node="conf01.example.com")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="system_location"):
        commands.Dial(conference_alias="a@b", destination="x")
    with pytest.raises(ValidationError, match="protocol"):
        commands.Dial(conference_alias="a@b", destination="x", node="10.0.0.1", protocol="skype")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="participant_id"):
        commands.MuteParticipant(participant_id="alice")  # type: ignore[arg-type]
    assert len(commands.ALL_COMMANDS) == 16  # the classic 14, participant/role, transform_layout


# --- errors: each class, worded without secrets ---------------------------------------------------


async def test_unknown_participant_is_not_found(client: PexipClient) -> None:
    with pytest.raises(errors.NotFound, match="mute participant: participant_id: Failed to find"):
        await client.command(
            commands.MuteParticipant(participant_id="00000000-0000-0000-0000-0000000000ff")
        )


async def test_wrong_password_is_an_auth_error(make_client: Callable[..., PexipClient]) -> None:
    bad = make_client(password=SecretStr("not-the-password-4411"))
    with pytest.raises(errors.AuthError, match="refused the API credentials") as failure:
        await status.running_conferences(bad)
    assert "not-the-password-4411" not in str(failure.value)


@pytest.mark.parametrize(
    ("fault", "error", "fragment"),
    [
        ({"status": 403}, errors.AuthError, "does not allow this account"),
        ({"login_redirect": True}, errors.AuthError, "login page"),
        (
            {"status": 400, "body": {"dial": {"node": ["Enter a valid IPv4 or IPv6 address."]}}},
            errors.InvalidRequest,
            "node: Enter a valid",
        ),
        ({"malformed": True}, errors.UnexpectedResponse, "not valid JSON"),
        ({"status": 503}, errors.Busy, "HTTP 503"),
        ({"drop": True}, errors.NoAnswer, "may or may not have acted"),
        ({"drop_mid_response": True}, errors.NoAnswer, "may or may not have acted"),
    ],
)
async def test_command_failures_map_to_typed_errors(
    client: PexipClient,
    simulator: Any,
    fault: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    alice = await participant_named(client, "Alice Parkes")
    simulator.control.add_fault(method="POST", path="/api/admin/command/", **fault)
    with pytest.raises(error, match=fragment):
        await client.command(commands.MuteParticipant(participant_id=alice.id))
    # a command that may have reached the node is never sent twice
    assert len(commands_received(simulator)) <= 1


async def test_invalid_request_keeps_each_field_message(
    client: PexipClient, simulator: Any
) -> None:
    simulator.control.add_fault(
        method="POST",
        path="/api/admin/command/",
        status=400,
        body={"conference_alias": ["This field is required."], "role": ["Select a valid choice."]},
    )
    with pytest.raises(errors.InvalidRequest) as failure:
        await client.command(commands.Dial(conference_alias="x", destination="y", node="10.0.0.1"))
    assert failure.value.fields == {
        "conference_alias": ("This field is required.",),
        "role": ("Select a valid choice.",),
    }


async def test_timeout_after_sending_is_not_retried(
    make_client: Callable[..., PexipClient], simulator: Any
) -> None:
    fast = make_client(timeout=0.3)
    alice = await participant_named(fast, "Alice Parkes")
    simulator.control.add_fault(method="POST", path="/api/admin/command/", latency=1.0)
    with pytest.raises(
        errors.NoAnswer, match="did not answer in time; it may or may not have acted"
    ):
        await fast.command(commands.MuteParticipant(participant_id=alice.id))
    await asyncio.sleep(1.0)  # let the slow request finish on the node
    assert [entry["path"] for entry in commands_received(simulator)] == [
        "/api/admin/command/v1/participant/mute/"
    ]


async def test_reads_retry_while_the_node_is_busy(client: PexipClient, simulator: Any) -> None:
    simulator.control.add_fault(
        method="GET", path="/api/admin/status/", status=503, retry_after="0", times=2
    )
    conferences = await status.running_conferences(client)
    assert conferences
    assert simulator.control.stats()["requests"]["GET /api/admin/status/v1/conference/"] == 3


async def test_reads_give_up_after_the_retry_budget(client: PexipClient, simulator: Any) -> None:
    simulator.control.add_fault(method="GET", path="/api/admin/status/", status=500)
    with pytest.raises(errors.Busy):
        await status.running_conferences(client)
    assert (
        simulator.control.stats()["requests"]["GET /api/admin/status/v1/conference/"]
        == FAST_RETRY.attempts
    )


async def test_retry_after_longer_than_allowed_gives_up_at_once(
    client: PexipClient, simulator: Any
) -> None:
    simulator.control.add_fault(
        method="GET", path="/api/admin/status/", status=429, retry_after="120"
    )
    with pytest.raises(errors.Busy) as failure:
        await status.running_conferences(client)
    assert failure.value.retry_after == 120
    assert simulator.control.stats()["requests"]["GET /api/admin/status/v1/conference/"] == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_not_sent(
    make_client: Callable[..., PexipClient], simulator: Any
) -> None:
    down = make_client(manager_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(errors.NotSent, match="nothing was sent") as failure:
        await down.command(
            commands.MuteParticipant(participant_id="00000000-0000-0000-0000-000000000001")
        )
    assert failure.value.sent is False


# --- connections, concurrency, TLS ---------------------------------------------------------


async def test_sequential_requests_reuse_one_connection(
    client: PexipClient, simulator: Any
) -> None:
    alice = await participant_named(client, "Alice Parkes")
    for _ in range(10):
        await client.command(commands.MuteParticipant(participant_id=alice.id))
        await status.running_conferences(client)
    assert simulator.control.stats()["connections"] == 1


@pytest.mark.parametrize("cap", [1, 3])
async def test_concurrency_cap_is_respected(
    make_client: Callable[..., PexipClient], simulator: Any, cap: int
) -> None:
    capped = make_client(max_concurrency=cap)
    simulator.control.add_fault(method="GET", path="/api/admin/status/", latency=0.05)
    await asyncio.gather(*(status.running_conferences(capped) for _ in range(12)))
    stats = simulator.control.stats()
    assert stats["max_in_flight"] == cap
    assert stats["connections"] <= cap


async def test_tls_needs_the_ca_bundle(
    make_client: Callable[..., PexipClient], tls_simulator: Any
) -> None:
    untrusting = make_client(sim=tls_simulator)
    with pytest.raises(errors.TLSError, match="PEXIP_CA_BUNDLE"):
        await status.running_conferences(untrusting)
    assert tls_simulator.control.stats()["requests"] == {}  # nothing reached the node, no retries

    trusting = make_client(sim=tls_simulator, ca_bundle=Path(tls_simulator.ca_bundle))
    assert await status.running_conferences(trusting)


async def test_a_certificate_for_other_names_says_so_and_names_them(
    make_client: Callable[..., PexipClient], misnamed_tls_simulator: Any
) -> None:
    node = misnamed_tls_simulator
    client = make_client(sim=node, ca_bundle=Path(node.ca_bundle))

    with pytest.raises(errors.TLSNameMismatch) as failure:
        await status.running_conferences(client)

    said = messages.pexip_sentence(failure.value)
    assert "does not match" in failure.value.message
    assert failure.value.certificate_names == CERTIFICATE_NAMES
    assert "the certificate is for pexip-mgr.example.com, 10.9.8.7" in said
    assert "PEXIP_MANAGER_URL" in said
    assert "PEXIP_CA_BUNDLE" not in said  # it is set, and the CA is not the problem
    assert node.control.stats()["requests"] == {}  # nothing was sent, and no retries


async def test_a_ca_bundle_that_did_not_sign_the_certificate_is_not_advised_again(
    make_client: Callable[..., PexipClient], tls_simulator: Any, misnamed_tls_simulator: Any
) -> None:
    wrong_ca = Path(misnamed_tls_simulator.ca_bundle)
    client = make_client(sim=tls_simulator, ca_bundle=wrong_ca)

    with pytest.raises(errors.TLSError) as failure:
        await status.running_conferences(client)

    said = messages.pexip_sentence(failure.value)
    assert not isinstance(failure.value, errors.TLSNameMismatch)
    assert "not signed by the CA in PEXIP_CA_BUNDLE" in said
    assert "set PEXIP_CA_BUNDLE" not in said


async def test_verification_can_be_turned_off_explicitly(
    make_client: Callable[..., PexipClient], tls_simulator: Any
) -> None:
    insecure = make_client(sim=tls_simulator, verify_tls=False)
    assert await status.running_conferences(insecure)  # warned at start: test_start_warnings


# --- backups ------------------------------------------------------------------------------------


async def test_backup_download_streams_and_hashes(client: PexipClient, tmp_path: Path) -> None:
    import hashlib

    newest = (await backups.list_backups(client))[0]
    downloaded = await backups.download_backup(client, newest.filename, tmp_path / newest.filename)
    data = downloaded.path.read_bytes()
    assert downloaded.size == newest.size == len(data)
    assert downloaded.sha256 == hashlib.sha256(data).hexdigest()


async def test_truncated_download_leaves_no_file(
    client: PexipClient, simulator: Any, tmp_path: Path
) -> None:
    newest = (await backups.list_backups(client))[0]
    simulator.control.add_fault(
        method="GET", path="/api/admin/configuration/v1/system_backup/pexip", drop_mid_response=True
    )
    with pytest.raises(errors.NoAnswer) as failure:
        await backups.download_backup(client, newest.filename, tmp_path / "b.tar.gpg")
    assert "failed mid-request" in failure.value.message
    assert "did not answer" in messages.pexip_sentence(failure.value)  # what the user is told
    assert list(tmp_path.iterdir()) == []


async def test_a_download_the_disk_refuses_partway_fails_and_leaves_no_file(
    client: PexipClient, simulator: Any, tmp_path: Path
) -> None:
    """A full disk mid-file (here a file-size limit: the write fails with EFBIG after 1 MiB of
    a 3 MiB backup) is the file's error, raised to the caller, and no part file stays."""
    import errno
    import resource

    backup = simulator.control.add_backup(3 * 1024 * 1024)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, hard))
    try:
        with pytest.raises(OSError) as failure:
            await backups.download_backup(client, backup["filename"], tmp_path / "b.tar.gpg")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert failure.value.errno == errno.EFBIG
    assert list(tmp_path.iterdir()) == []


# The download has a connection of its own: the same checks and the same errors as every other
# request.


async def test_a_backup_download_verifies_tls_as_every_request_does(
    make_client: Callable[..., PexipClient],
    tls_simulator: Any,
    misnamed_tls_simulator: Any,
    tmp_path: Path,
) -> None:
    import hashlib

    trusting = make_client(sim=tls_simulator, ca_bundle=Path(tls_simulator.ca_bundle))
    newest = (await backups.list_backups(trusting))[0]
    before = tls_simulator.control.stats()["requests"]

    with pytest.raises(errors.TLSError, match="set PEXIP_CA_BUNDLE"):  # on by default
        await backups.download_backup(
            make_client(sim=tls_simulator), newest.filename, tmp_path / "b"
        )
    misnamed = misnamed_tls_simulator
    with pytest.raises(errors.TLSNameMismatch) as mismatch:
        await backups.download_backup(
            make_client(sim=misnamed, ca_bundle=Path(misnamed.ca_bundle)),
            newest.filename,
            tmp_path / "b",
        )
    assert mismatch.value.certificate_names == CERTIFICATE_NAMES
    assert tls_simulator.control.stats()["requests"] == before  # nothing was sent
    assert misnamed.control.stats()["requests"] == {}
    assert list(tmp_path.iterdir()) == []

    downloaded = await backups.download_backup(trusting, newest.filename, tmp_path / "b")
    assert downloaded.sha256 == hashlib.sha256(downloaded.path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("fault", "error", "said", "user_told"),
    [
        ({"status": 401}, errors.AuthError, "the API credentials", "refused pexbot's API account"),
        ({"status": 404}, errors.NotFound, "not found on the node", "has no such object"),
        (
            {"status": 400, "body": {"error": "Backup file is locked"}},
            errors.InvalidRequest,
            "Backup file is locked",
            "refused it: Backup file is locked.",
        ),
        ({"login_redirect": True}, errors.AuthError, "login page", "check PEXIP_USERNAME"),
        ({"status": 503, "retry_after": "7"}, errors.Busy, "(HTTP 503)", "busy and did not act"),
        ({"latency": 1.0}, errors.NoAnswer, "did not answer in time", "did not answer"),
    ],
    ids=["401", "404", "400-with-the-node-s-words", "login-redirect", "503", "timeout"],
)
async def test_a_backup_download_the_node_refuses_fails_as_any_request_would(
    make_client: Callable[..., PexipClient],
    simulator: Any,
    tmp_path: Path,
    fault: dict[str, Any],
    error: type[errors.PexipError],
    said: str,
    user_told: str,
) -> None:
    client = make_client(timeout=0.5)
    newest = (await backups.list_backups(client))[0]
    simulator.control.add_fault(method="GET", path=backups.BACKUPS + "pexip", **fault)
    with pytest.raises(error) as failure:
        await backups.download_backup(client, newest.filename, tmp_path / "b.tar.gpg")
    assert said in failure.value.message
    assert user_told in messages.pexip_sentence(failure.value)
    if isinstance(failure.value, errors.Busy):
        assert failure.value.retry_after == 7
    assert list(tmp_path.iterdir()) == []


async def test_a_backup_download_from_a_node_that_is_down_was_not_sent(
    make_client: Callable[..., PexipClient], tmp_path: Path
) -> None:
    down = make_client(manager_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(errors.NotSent, match="nothing was sent"):
        await backups.download_backup(down, "pexip_backup_x.tar.gpg", tmp_path / "b.tar.gpg")
    assert list(tmp_path.iterdir()) == []


async def test_a_backup_whose_sha256_is_not_the_one_the_node_lists_is_not_kept(
    client: PexipClient, tmp_path: Path
) -> None:
    import hashlib

    newest = (await backups.list_backups(client))[0]
    wrong = "0" * 64
    with pytest.raises(errors.UnexpectedResponse, match=f"not the {wrong} the node lists"):
        await backups.download_backup(client, newest.filename, tmp_path / "b", sha256=wrong)
    assert list(tmp_path.iterdir()) == []

    first = await backups.download_backup(client, newest.filename, tmp_path / "b")
    right = hashlib.sha256(first.path.read_bytes()).hexdigest()
    checked = await backups.download_backup(
        client, newest.filename, tmp_path / "c", sha256=right.upper()
    )
    assert checked.sha256 == right


def download_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("backup-download")]


async def test_a_cancelled_download_stops_at_once_and_leaves_nothing(
    make_client: Callable[..., PexipClient], simulator: Any, tmp_path: Path
) -> None:
    """SIGTERM or a cancelled command while the node is slow to answer: the read blocked in
    the download's thread is cut short, nothing is left on disk, and the next download works."""
    client = make_client(timeout=10.0)
    newest = (await backups.list_backups(client))[0]
    simulator.control.add_fault(method="GET", path=backups.BACKUPS + "pexip", latency=5, times=1)
    downloading = asyncio.ensure_future(
        backups.download_backup(client, newest.filename, tmp_path / "b.tar.gpg")
    )
    await asyncio.sleep(0.3)  # the request is at the node, the thread waits for its answer
    assert download_threads()
    loop = asyncio.get_running_loop()
    cancelled_at = loop.time()
    downloading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await downloading
    assert loop.time() - cancelled_at < 1  # not the node's 5 s, nor the 10 s timeout
    assert download_threads() == []
    assert list(tmp_path.iterdir()) == []
    got = await asyncio.wait_for(
        backups.download_backup(client, newest.filename, tmp_path / "again"), timeout=5
    )
    assert got.size == newest.size


async def test_a_download_cancelled_while_it_gives_way_stops_at_once(
    simulator: Any, tmp_path: Path
) -> None:
    """Cancelled between pieces, while waiting for moderation (which would let it wait 5 s):
    the wait ends, the part-written file is removed, no thread is left."""
    queue = CommandQueue()
    backup = simulator.control.add_backup(1024 * 1024)
    moderating = asyncio.Event()
    async with PexipClient(
        settings_for(simulator), moderation=queue, give_way=GiveWay(at_most=5.0)
    ) as client:

        async def moderate() -> None:
            moderating.set()
            await asyncio.sleep(10)

        queue.submit(moderate)
        await moderating.wait()
        downloading = asyncio.ensure_future(
            backups.download_backup(client, backup["filename"], tmp_path / "b")
        )
        await asyncio.sleep(0.3)
        assert (tmp_path / "b.part").exists() and not downloading.done()  # giving way
        loop = asyncio.get_running_loop()
        cancelled_at = loop.time()
        downloading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await downloading
        assert loop.time() - cancelled_at < 1
        assert download_threads() == []
        assert list(tmp_path.iterdir()) == []
        await queue.drain(grace=0)


def test_a_manager_url_with_a_path_prefix_keeps_it_for_the_download() -> None:
    """As httpx joins a request path to its `base_url`."""
    from bot.pexip.download import node_url

    assert node_url("https://n.example/pexip", "/api/x/") == "https://n.example/pexip/api/x/"
    assert node_url("https://n.example/pexip/", "api/x/") == "https://n.example/pexip/api/x/"
    assert node_url("https://n.example", "/api/x/") == "https://n.example/api/x/"


async def test_backups_list_newest_first_and_delete(client: PexipClient) -> None:
    listed = await backups.list_backups(client)
    dates = [backup.date for backup in listed]
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]
    await backups.delete_backup(client, listed[-1].filename)
    assert listed[-1].filename not in {b.filename for b in await backups.list_backups(client)}
    with pytest.raises(errors.NotFound):
        await backups.delete_backup(client, listed[-1].filename)


# --- what real nodes send (tests/fixtures/real_node.py, from real-node-facts.md) ----------------


def serve(simulator: Any, path: str, body: Any) -> None:
    """The node answers GETs under `path` with `body` (a real node's payload)."""
    simulator.control.add_fault(method="GET", path=path, status=200, body=body)


async def test_real_participants_are_read_with_nulls_missing_keys_and_new_values(
    client: PexipClient, simulator: Any
) -> None:
    older_node = {  # an older recording: no bandwidth, no *_supported, no is_streaming
        key: value
        for key, value in real_node.participant(id=str(uuid.uuid4())).items()
        if not key.endswith(("_supported", "bandwidth")) and key != "is_streaming"
    }
    serve(
        simulator,
        f"{real_node.STATUS}participant/",
        real_node.envelope(
            real_node.participant(),
            real_node.participant(
                id=str(uuid.uuid4()),
                display_name=None,
                vendor=None,
                idp_uuid=None,
                proxy_node=None,
                connect_time=None,
                service_tag=None,
            ),
            real_node.participant(id=str(uuid.uuid4()), protocol="GHM", service_type="new_kind"),
            older_node,
            real_node.connected_web_chair(),
        ),
    )

    found = await status.participant_list(client)

    assert found.unreadable == 0
    dana, nameless, meet, older, lee = found.items
    assert (dana.display_name, dana.is_client_muted, dana.is_muted) == ("Dana Ruiz", True, False)
    assert dana.connect_time is not None and dana.connect_time.tzinfo is not None
    assert (nameless.display_name, nameless.label) == ("", "sip:dana@corp.example")
    assert (meet.protocol, meet.service_type) == ("GHM", "new_kind")  # as they come
    assert older.is_mute_supported and older.is_transfer_supported  # the node decides then
    assert (lee.has_media, lee.is_in_the_room, lee.is_connecting) == (False, True, False)


async def test_one_unreadable_participant_is_skipped_and_counted(
    client: PexipClient, simulator: Any
) -> None:
    serve(
        simulator,
        f"{real_node.STATUS}participant/",
        real_node.envelope(
            real_node.participant(),
            real_node.participant(id=None, display_name="No Id"),
            "not an object",
            real_node.participant(id=str(uuid.uuid4()), is_muted="maybe", display_name="Odd"),
            real_node.connected_web_chair(),
        ),
    )

    found = await status.participant_list(client)

    assert [p.display_name for p in found.items] == ["Dana Ruiz", "Lee Chen"]
    assert found.unreadable == 3
    assert [p.display_name for p in await status.participants(client)] == [
        "Dana Ruiz",
        "Lee Chen",
    ]


async def test_the_real_version_string_is_split_into_release_and_build(
    client: PexipClient, simulator: Any
) -> None:
    secondary = real_node.management_vm(id=2, primary=False, version="23 (50000.0.0)")
    serve(
        simulator,
        f"{real_node.STATUS}management_vm/",
        real_node.envelope(secondary, real_node.management_vm()),
    )

    node = await status.primary_management_node(client)

    assert (node.name, node.version) == ("pexmgr01", "24 (55691.0.0)")
    assert node.release_and_build == ("24", "55691.0.0")


@pytest.mark.parametrize(
    ("version", "parsed"),
    [
        ("24 (55691.0.0)", ("24", "55691.0.0")),
        ("34.1 (77123.0.0)", ("34.1", "77123.0.0")),  # a point release
        ("36.0.0", None),  # semver: not how the node writes it
        ("", None),
        ("unknown", None),
    ],
)
def test_version_strings(version: str, parsed: tuple[str, str] | None) -> None:
    assert ManagementNode(version=version).release_and_build == parsed


async def test_a_backup_without_version_fields_is_read_from_its_file_name() -> None:
    documented = "pexip_backup_10-44-7-0-mgr_11_26902.0.0_16_01_28_15_36_16.tar.gpg"
    assert SystemBackup(filename=documented).release_and_build == ("11", "26902.0.0")
    assert SystemBackup(filename="backup.tar.gpg").release_and_build is None


async def test_a_backup_download_takes_no_moderation_slot(
    client: PexipClient, simulator: Any, tmp_path: Path
) -> None:
    """One slot (PEXIP_MAX_CONCURRENCY=1): a lookup and a command go through while a download
    is open (the node is slow to answer it). Before, the download held the only slot and both
    waited for its whole length."""
    newest = (await backups.list_backups(client))[0]
    simulator.control.add_fault(method="GET", path=backups.BACKUPS + "pexip", latency=1.5)
    downloading = asyncio.ensure_future(
        backups.download_backup(client, newest.filename, tmp_path / "b.tar.gpg")
    )
    await asyncio.sleep(0.2)  # the download's request is at the node
    alice = await asyncio.wait_for(participant_named(client, "Alice Parkes"), timeout=1)
    await asyncio.wait_for(
        client.command(commands.MuteParticipant(participant_id=alice.id)), timeout=1
    )
    assert not downloading.done()
    assert (await downloading).size == newest.size


async def test_two_downloads_take_turns_instead_of_timing_out(
    make_client: Callable[..., PexipClient], tmp_path: Path
) -> None:
    client = make_client(timeout=0.5)
    newest = (await backups.list_backups(client))[0]
    first, second = await asyncio.gather(
        backups.download_backup(client, newest.filename, tmp_path / "one"),
        backups.download_backup(client, newest.filename, tmp_path / "two"),
    )
    assert first.sha256 == second.sha256 and first.size == newest.size


async def test_a_restore_package_is_sent_as_a_streamed_multipart_form(tmp_path: Path) -> None:
    """The upload is read a piece at a time and parses as the form the node expects."""
    import io

    from python_multipart import parse_form

    from bot.pexip import upload

    package = tmp_path / 'odd "name".tar.gpg'
    content = bytes(range(256)) * (3 * upload.PIECE // 256 + 7)
    package.write_bytes(content)
    form = upload.MultipartFile(fields={"passphrase": "s3cret"}, name="package", path=package)
    pieces = [piece async for piece in form.stream()]
    body = b"".join(pieces)

    assert max(len(p) for p in pieces) <= upload.PIECE  # never the whole file at once
    headers = form.headers()
    assert int(headers["Content-Length"]) == len(body)
    fields: dict[str, bytes] = {}
    files: dict[str, tuple[bytes, bytes]] = {}

    def on_field(field: Any) -> None:
        fields[field.field_name.decode()] = field.value

    def on_file(file: Any) -> None:
        file.file_object.seek(0)
        files[file.field_name.decode()] = (file.file_name, file.file_object.read())

    parse_form(
        {"Content-Type": headers["Content-Type"].encode()}, io.BytesIO(body), on_field, on_file
    )
    assert fields == {"passphrase": b"s3cret"}
    assert files == {"package": (b"odd %22name%22.tar.gpg", content)}


async def test_a_backup_download_gives_way_to_a_lookup_in_flight(
    simulator: Any, tmp_path: Path
) -> None:
    """On a machine short of CPU the moderator's request is served first: the download waits
    between pieces while a lookup or command is in flight, and then carries on."""
    async with PexipClient(settings_for(simulator), give_way=GiveWay(at_most=5.0)) as client:
        newest = (await backups.list_backups(client))[0]
        simulator.control.add_fault(method="GET", path="/api/admin/status/", latency=0.5, times=1)
        finished: list[str] = []

        async def lookup() -> None:
            await status.participants(client)
            finished.append("lookup")

        async def download() -> None:
            await asyncio.sleep(0.1)  # the lookup is in flight by now
            await backups.download_backup(client, newest.filename, tmp_path / "b.tar.gpg")
            finished.append("download")

        await asyncio.wait_for(asyncio.gather(lookup(), download()), timeout=10)
    assert finished == ["lookup", "download"]


async def _downloading_while_a_command_runs(
    simulator: Any, tmp_path: Path, give_way: GiveWay, command_takes: float
) -> list[str]:
    """`backup now` and a moderator's command in one queue, as in `pexbot serve`: the command
    is busy `command_takes` s without a node request (its parse, audit row and Slack post); the
    download (1 MiB, a command of its own) starts meanwhile. Returns the order they finished."""
    queue = CommandQueue()
    finished: list[str] = []
    backup = simulator.control.add_backup(1024 * 1024)
    async with PexipClient(settings_for(simulator), moderation=queue, give_way=give_way) as client:

        async def moderate() -> None:
            await asyncio.sleep(command_takes)
            finished.append("command")

        async def backup_now() -> None:
            got = await backups.download_backup(client, backup["filename"], tmp_path / "b")
            assert got.size == backup["size"]
            finished.append("download")

        queue.submit(moderate)
        queue.submit(backup_now)
        await asyncio.wait_for(queue.drain(grace=30), timeout=30)
    return finished


async def test_a_backup_download_gives_way_for_the_whole_of_a_command(
    simulator: Any, tmp_path: Path
) -> None:
    """Not only while the command is at the node; and the download's own command does not
    hold it up (it would wait for itself 5 s a piece)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    finished = await _downloading_while_a_command_runs(
        simulator, tmp_path, GiveWay(at_most=5.0), command_takes=1.0
    )
    assert finished == ["command", "download"]
    assert loop.time() - started < 4


async def test_a_backup_download_still_progresses_while_moderation_never_stops(
    simulator: Any, tmp_path: Path
) -> None:
    finished = await _downloading_while_a_command_runs(
        simulator, tmp_path, GiveWay(at_most=0.02, read_on=0.01), command_takes=5.0
    )
    assert finished == ["download", "command"]
