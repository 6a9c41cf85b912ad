"""Stories of a moderator limited to some conferences (INTERFACE §5): what is outside their
scope cannot be found, named or reached, and asking costs the node no more than it must."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.serve import BackgroundServer
from bot.sandbox.simulator import SimulatorControl, create_app
from bot.sandbox.simulator.models import Alias, Conference, ServiceConfig
from bot.sandbox.simulator.seed import stable_id
from tests.e2e.conftest import Seen, node_commands, participant
from tests.fixtures.bot import ADMIN, MODERATOR, POLICY, SCOPED, Bot, serve_bot
from tests.fixtures.simulator import PASSWORD, USERNAME, SimulatorHandle

SCOPED_DIALLER = POLICY.replace(
    "allow: [conferences, participants, mute, unmute, lock, unlock, role, layout]",
    "allow: [conferences, participants, mute, unmute, lock, unlock, role, layout, dial, transfer]",
)
FRANK = stable_id("participant", "Board_Room", "Frank Ng")


def _requests(simulator: Any) -> dict[str, int]:
    return dict(simulator.control.stats()["requests"])


def _said_to(seen: Seen, count: int) -> list[str]:
    """The private answers, oldest first, once there are `count` of them."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answers = [m.text for m in seen.everything() if m.ephemeral]
        if len(answers) >= count:
            return answers
        time.sleep(0.01)
    raise AssertionError(f"expected {count} answers, saw {seen.everything()}")


@pytest.mark.parametrize(
    ("outside", "nobody"),
    [("fr", "zz"), ("Frank Ng", "Nobody Here"), (FRANK, str(uuid.uuid4()))],
    ids=["substring", "exact name", "participant id"],
)
def test_an_out_of_scope_participant_gets_the_answer_and_node_calls_of_nobody(
    bot: Bot, seen: Seen, simulator: Any, outside: str, nobody: str
) -> None:
    bot.slack.command(f'mute "{nobody}"', user=SCOPED)  # aliases listed once, then shared
    _said_to(seen, 1)

    calls = []
    for typed in (outside, nobody):
        simulator.control.reset_stats()
        bot.slack.command(f'mute "{typed}"', user=SCOPED)
        answers = _said_to(seen, 2 + len(calls))
        said = answers[-1].replace(typed, "<typed>").split(" (ref")[0]
        asked = {path.replace(typed, "<typed>"): n for path, n in _requests(simulator).items()}
        calls.append((said, asked))

    (said_outside, asked_outside), (said_nobody, asked_nobody) = calls
    assert said_outside == said_nobody
    assert "in the conferences you moderate" in said_outside
    assert asked_outside == asked_nobody
    assert not [m for m in seen.everything() if "Board_Room" in m.text or "Eve" in m.text]
    assert node_commands(simulator) == []


def test_ambiguity_choices_hold_only_participants_in_scope(bot: Bot, seen: Seen) -> None:
    bot.slack.command("mute a", user=SCOPED)  # Alice ×2, Carol, Dan, Frank, Eve, ...

    choices = seen.private("participants match")
    assert "Alice Parkes" in choices.text and "Alice Cooper" in choices.text
    for hidden in ("Board_Room", "Frank Ng", "Eve Adams"):
        assert hidden not in str(choices.blocks) and hidden not in choices.text


def test_a_name_in_scope_is_found_as_before(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command('mute "Bob Smith"', user=SCOPED)

    seen.public(f"<@{SCOPED}> muted Bob Smith in VMR_1")
    assert participant(simulator, "Bob Smith")["is_muted"] is True


def test_an_alias_of_an_idle_conference_out_of_scope_is_not_named(bot: Bot, seen: Seen) -> None:
    bot.slack.command("lock townhall@example.com", user=SCOPED)

    refused = seen.private("your `lock` permission does not cover conference")
    assert "townhall@example.com" in refused.text and "Town_Hall" not in refused.text


def test_dialling_into_a_conference_in_scope_a_destination_out_of_scope_is_refused(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=SCOPED_DIALLER)

    bot.slack.command("dial vmr1@meet.example.com board@example.com", user=SCOPED)
    refused = seen.private("your `dial` permission does not cover conference board@example.com")
    assert "Board_Room" not in refused.text
    bot.slack.command("dial vmr1@meet.example.com sip:board@example.com", user=SCOPED)
    seen.private("does not cover conference sip:board@example.com")
    assert node_commands(simulator) == []

    bot.slack.command("dial vmr1@meet.example.com sip:vmr2@meet.example.com", user=SCOPED)
    seen.public(f"<@{SCOPED}> is dialling sip:vmr2@meet.example.com into VMR_1")
    bot.slack.command("dial vmr1@meet.example.com board@example.com", user=MODERATOR)
    seen.public(f"<@{MODERATOR}> is dialling board@example.com into VMR_1")
    assert len(node_commands(simulator, "participant/dial")) == 2


@pytest.mark.parametrize("callback", ["dial_form", "transfer_form"])
def test_the_pickers_list_only_conferences_in_scope(
    bot_with: Callable[..., Bot], seen: Seen, callback: str
) -> None:
    bot = bot_with(policy=SCOPED_DIALLER)
    view = {"id": "V0PICKER1", "type": "modal", "callback_id": callback}

    scoped = bot.slack.suggest(view, "conference_choice", "", user=SCOPED).json()["options"]
    everyone = bot.slack.suggest(view, "conference_choice", "", user=ADMIN).json()["options"]

    assert [o["value"] for o in scoped] == [
        "meet@example.com",
        "vmr1@meet.example.com",
        "vmr2@meet.example.com",
        "vmr3@meet.example.com",
    ]
    assert {"board@example.com", "townhall@example.com"} <= {o["value"] for o in everyone}


# --- what a scoped user costs the node, with 300 conferences running ----------------------------

CROWD = 300


def _crowd(node: Any) -> None:
    """300 more running conferences, each with an alias, none in SCOPED's scope."""
    for n in range(CROWD):
        service = ServiceConfig(id=1000 + n, name=f"Team_{n:03d}")
        node.services[service.id] = service
        node.aliases[1000 + n] = Alias(
            id=1000 + n, alias=f"team{n}@example.com", conference_id=service.id
        )
        conference = Conference(
            id=stable_id("conference", service.name), service=service, start_time=time.time()
        )
        node.conferences[conference.id] = conference


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[SimulatorHandle]:
    app = create_app(username=USERNAME, password=PASSWORD)
    _crowd(app.node)
    with BackgroundServer(app) as server, SimulatorControl(server.url) as control:
        yield SimulatorHandle(server.url, USERNAME, PASSWORD, control)


def test_twenty_listings_by_a_scoped_user_cost_about_what_an_admins_cost(
    crowded: SimulatorHandle,
    slack_api: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    totals = {}
    with serve_bot(crowded, slack_api, tmp_path, monkeypatch) as bot:
        for user in (ADMIN, SCOPED):
            crowded.control.reset_stats()
            slack_api.state.reset()
            for _ in range(20):
                bot.slack.command("conferences", user=user)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if len([m for m in slack_api.state.messages() if m.ephemeral]) >= 20:
                    break
                time.sleep(0.05)
            totals[user] = crowded.control.stats()["requests_total"]
    with capsys.disabled():
        print(
            f"\n{CROWD + 3} running conferences, 20 × `conferences`: node requests "
            f"admin {totals[ADMIN]}, scoped moderator {totals[SCOPED]}"
        )
    alias_listing_pages = (CROWD + 5) // 100 + 1
    assert totals[SCOPED] <= totals[ADMIN] + alias_listing_pages
