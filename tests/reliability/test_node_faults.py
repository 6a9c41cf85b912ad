"""Whatever the management node does (down, slow, 5xx with or without Retry-After, 401, 403, a
login page, malformed JSON, a connection cut before or during the answer), every kind of command
gets one clear message, the process keeps serving, reads are retried and commands are not.

Each test puts one fault on the node and sends every kind of command at once, each from its own
channel, so each one's messages and requests can be told apart."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

import pytest

from bot.check import check_node
from bot.config import PexipSettings
from bot.pexip import commands as pexip
from bot.pexip import errors, status
from bot.pexip.client import PexipClient, RetryPolicy
from bot.sandbox.simulator.seed import stable_id
from tests.e2e.conftest import Seen, node_commands, wait_until
from tests.fixtures.bot import ADMIN
from tests.reliability.conftest import PEXIP_USER, SECRETS, Launch, SecretBot, Stack, Tally

TIMEOUT = 0.5  # PEXIP_TIMEOUT of the bot under test
SLOW = 1.2  # a node slower than that
COMMANDS = "/api/admin/command/"
VMR_2 = stable_id("conference", "VMR_2")  # the running conference's id, as a button carries it


@dataclass(frozen=True)
class Fault:
    """A fault, and what a user must be told (hand-written, not read from the code)."""

    spec: dict[str, Any]
    command_said: str  # after a command was sent: "{action}" is the command's words
    lookup_said: str  # after a read, before anything was sent
    read_attempts: int  # reads retry while the node is unavailable; the rest fail at once


NOT_DONE = "<@{user}> tried to {action}, but it did not happen. "
MAYBE_DONE = "<@{user}> asked to {action}: "
UNKNOWN = MAYBE_DONE + "The management node did not answer, so this may or may not have happened"
BUSY = NOT_DONE + "The management node is busy and did not act"
REFUSED = NOT_DONE + "The management node refused pexbot's API account"
UNREADABLE = (
    MAYBE_DONE + "The management node answered something pexbot cannot read (the node's reply "
    "is not valid JSON (HTTP 200)). It may or may not have happened"
)
UNANSWERED = "Nothing was done. The management node did not answer in time. Try again shortly."

FAULTS = {
    "slower than the timeout": Fault({"latency": SLOW}, UNKNOWN, UNANSWERED, 3),
    "500": Fault({"status": 500}, BUSY, "Nothing was done. The management node is busy", 3),
    "503": Fault({"status": 503}, BUSY, "Nothing was done. The management node is busy", 3),
    "500 with Retry-After": Fault(
        {"status": 500, "retry_after": "1"},
        BUSY,
        "Nothing was done. The management node is busy",
        3,
    ),
    "503 with Retry-After": Fault(
        {"status": 503, "retry_after": "1"},
        BUSY,
        "Nothing was done. The management node is busy",
        3,
    ),
    "401": Fault({"status": 401}, REFUSED, "Nothing was done. The management node refused", 1),
    "403": Fault({"status": 403}, REFUSED, "Nothing was done. The management node refused", 1),
    "login page": Fault(
        {"login_redirect": True}, REFUSED, "Nothing was done. The management node refused", 1
    ),
    "malformed JSON": Fault(
        {"malformed": True}, UNREADABLE, "Nothing was done. The management node answered", 1
    ),
    "connection dropped": Fault({"drop": True}, UNKNOWN, UNANSWERED, 3),
    "connection dropped mid-response": Fault(
        {"drop_mid_response": True},
        UNKNOWN,
        UNANSWERED,
        3,
    ),
}


@dataclass(frozen=True)
class Kind:
    """A kind of command, as a user gives it, and what it sends."""

    text: str
    channel: str
    action: str  # its words in the outcome ("tried to {action}")
    command_path: str  # the command it sends
    read_path: str  # the first read it makes


KINDS = {
    "participant command": Kind(
        'mute "Bob Smith"',
        "C0FAULT01",
        "mute Bob Smith in VMR_1",
        "POST /api/admin/command/v1/participant/mute/",
        "GET /api/admin/status/v1/participant/",
    ),
    "conference command": Kind(
        f"lock {VMR_2}",
        "C0FAULT02",
        "lock VMR_2",
        "POST /api/admin/command/v1/conference/lock/",
        f"GET /api/admin/status/v1/conference/{VMR_2}/",
    ),
    "command with no lookup": Kind(
        "sync 1",
        "C0FAULT03",
        "sync template 1",
        "POST /api/admin/command/v1/conference/sync/",
        "",
    ),
    "dial": Kind(
        "dial vmr3@meet.example.com bob@example.com",
        "C0FAULT04",
        "dial bob@example.com into VMR_3",
        "POST /api/admin/command/v1/participant/dial/",
        "GET /api/admin/configuration/v1/conference_alias/",
    ),
    "confirmed end": Kind(
        "end Board_Room",
        "C0FAULT05",
        "end Board_Room",
        "POST /api/admin/command/v1/conference/disconnect/",
        "",  # its reads were made to ask the question, before the fault
    ),
}
# Reads alone: listings, and the lookups before a command (each kind's first read differs).
LISTINGS = {
    "conferences listing": Kind(
        "conferences", "C0FAULT06", "", "", "GET /api/admin/status/v1/conference/"
    ),
    "backup list": Kind(
        "backup list", "C0FAULT07", "", "", "GET /api/admin/configuration/v1/system_backup/"
    ),
}


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch(PEXIP_TIMEOUT=str(TIMEOUT), PEXIP_MAX_CONCURRENCY="4")


def in_channel(seen: Seen, channel: str) -> list[Any]:
    return [m for m in seen.everything() if m.channel == channel]


def said(seen: Seen, channel: str, fragment: str, public: bool) -> Any:
    """The message in `channel` with `fragment`, public or private, within the time limit."""
    return seen.wait(
        lambda m: m.channel == channel and fragment in m.text and m.ephemeral != public, 8
    )


def never_twice(seen: Seen) -> None:
    """No message was posted twice (after a moment for a second copy to arrive)."""
    time.sleep(0.1)
    texts = [(m.channel, m.text) for m in seen.everything() if not m.delete_original]
    assert len(texts) == len(set(texts)), texts


def ask_to_end(bot: SecretBot, seen: Seen, kind: Kind) -> dict[str, Any]:
    bot.slack.command(kind.text, user=ADMIN, channel=kind.channel)
    question = seen.wait(lambda m: m.channel == kind.channel and "End Board_Room" in m.text)
    return seen.button(question, "End Board_Room")


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_a_command_the_node_fails_is_said_once_in_the_channel_and_not_sent_again(
    bot: SecretBot, seen: Seen, simulator: Any, stack: Stack, tally: Tally, fault: Fault
) -> None:
    end = ask_to_end(bot, seen, KINDS["confirmed end"])
    simulator.control.reset_stats()
    simulator.control.add_fault(path=COMMANDS, **fault.spec)

    for kind in KINDS.values():
        if kind.text.startswith("end "):
            bot.slack.click(end, user=ADMIN, channel=kind.channel)
        else:
            bot.slack.command(kind.text, user=ADMIN, channel=kind.channel)
        tally.faults_tried += 1

    for kind in KINDS.values():
        said(seen, kind.channel, fault.command_said.format(user=ADMIN, action=kind.action), True)
    never_twice(seen)
    requests = simulator.control.stats()["requests"]
    for name, kind in KINDS.items():
        assert requests[kind.command_path] == 1, f"{name}: the command was sent again"
    assert bot.healthz() == 200
    outcomes = {e.command: e.outcome for e in bot.audit(20)}
    assert {outcomes[word] for word in ("mute", "lock", "sync", "dial", "end")} == {"error"}


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
def test_a_read_the_node_fails_is_retried_said_privately_and_nothing_is_sent(
    bot: SecretBot, seen: Seen, simulator: Any, tally: Tally, fault: Fault
) -> None:
    simulator.control.add_fault(path="/api/admin/status/", **fault.spec)
    simulator.control.add_fault(path="/api/admin/configuration/", **fault.spec)
    reads = {name: kind for name, kind in (KINDS | LISTINGS).items() if kind.read_path}

    started = time.monotonic()
    for kind in reads.values():
        bot.slack.command(kind.text, user=ADMIN, channel=kind.channel)
        tally.faults_tried += 1

    for name, kind in reads.items():
        message = said(seen, kind.channel, fault.lookup_said, public=False)
        assert "may or may not" not in message.text, f"{name}: nothing was sent: {message.text}"
    never_twice(seen)
    requests = simulator.control.stats()["requests"]
    for name, kind in reads.items():
        assert requests[kind.read_path] == fault.read_attempts, name
    assert node_commands(simulator) == []
    assert [m for m in seen.everything() if not m.ephemeral] == []
    if fault.spec.get("retry_after"):
        assert time.monotonic() - started >= 2 * float(fault.spec["retry_after"])
    assert bot.healthz() == 200


def test_after_every_fault_the_node_recovering_is_enough(
    bot: SecretBot, seen: Seen, simulator: Any
) -> None:
    simulator.control.add_fault(status=503, times=2)

    bot.slack.command('mute "Bob Smith"', user=ADMIN, channel="C0FAULT08")

    seen.public(f"<@{ADMIN}> muted Bob Smith in VMR_1", channel="C0FAULT08")
    assert len(node_commands(simulator, "participant/mute")) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_node_that_is_down_gets_nothing_sent_said_for_every_kind_of_command(
    launch_here: Launch, seen: Seen, tally: Tally, caplog: pytest.LogCaptureFixture
) -> None:
    bot = launch_here(PEXIP_MANAGER_URL=f"http://127.0.0.1:{closed_port()}", PEXIP_TIMEOUT="1")
    kinds = {name: kind for name, kind in (KINDS | LISTINGS).items() if kind.read_path}

    for kind in kinds.values():
        bot.slack.command(kind.text, user=ADMIN, channel=kind.channel)
        tally.faults_tried += 1
    sync = KINDS["command with no lookup"]
    bot.slack.command(sync.text, user=ADMIN, channel=sync.channel)
    tally.faults_tried += 1

    unreachable = "The management node could not be reached, so nothing was sent."
    for kind in kinds.values():
        said(seen, kind.channel, f"Nothing was done. {unreachable}", public=False)
    said(
        seen,
        sync.channel,
        f"<@{ADMIN}> tried to sync template 1, but it did not happen. {unreachable}",
        public=True,
    )
    never_twice(seen)
    # a command that surely never left is tried once more, and only once
    retries = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert [r.getMessage().split(":")[0] for r in retries] == ["sync template"]
    assert bot.healthz() == 200


async def test_pexbot_check_of_a_node_slower_than_its_timeout_says_only_that(
    simulator: Any, tally: Tally
) -> None:
    """`pexbot check` only reads: there is nothing that may or may not have happened."""
    simulator.control.add_fault(latency=SLOW)
    settings = PexipSettings(
        manager_url=simulator.url,
        username=PEXIP_USER,
        password=SECRETS["PEXIP_PASSWORD"],
        timeout=TIMEOUT,
    )

    result = await check_node(settings)
    tally.faults_tried += 1

    assert (result.ok, result.detail) == (
        False,
        f"{simulator.url}: The management node did not answer in time. Try again shortly.",
    )


CLIENT_FAULTS = {name: fault for name, fault in FAULTS.items() if "Retry-After" not in name}
EXPECTED_ERROR = {
    "slower than the timeout": errors.NoAnswer,
    "500": errors.Busy,
    "503": errors.Busy,
    "401": errors.AuthError,
    "403": errors.AuthError,
    "login page": errors.AuthError,
    "malformed JSON": errors.UnexpectedResponse,
    "connection dropped": errors.NoAnswer,
    "connection dropped mid-response": errors.NoAnswer,
}


async def test_every_fault_becomes_one_typed_error_whose_text_holds_no_secret(
    stack: Stack, simulator: Any, tally: Tally
) -> None:
    settings = PexipSettings(
        manager_url=simulator.url,
        username=PEXIP_USER,
        password=SECRETS["PEXIP_PASSWORD"],
        timeout=TIMEOUT,
    )
    async with PexipClient(settings, retry=RetryPolicy(attempts=1)) as client:
        for name, fault in CLIENT_FAULTS.items():
            simulator.control.clear_faults()
            simulator.control.add_fault(**fault.spec)
            for attempt in (
                status.running_conferences(client),
                client.command(pexip.SyncTemplate(conference_sync_template_id="1")),
            ):
                tally.faults_tried += 1
                with pytest.raises(errors.PexipError) as raised:
                    await attempt
                assert type(raised.value) is EXPECTED_ERROR[name], name
                stack.watch.scan("exception texts", _texts(raised.value))
    wait_until(lambda: simulator.control.stats()["in_flight"] == 0, 5, "the node to settle")


def _texts(exc: BaseException) -> str:
    texts = []
    current: BaseException | None = exc
    while current is not None:
        texts += [str(current), repr(current), *map(str, current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)
