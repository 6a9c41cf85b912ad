"""Stories of people from other Slack workspaces (Slack Connect, Enterprise Grid): only the
workspaces in SLACK_ALLOWED_TEAMS (by default the bot's own) may use the bot."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.sandbox.simulator.seed import stable_id
from tests.e2e.conftest import Seen, audited, node_commands, wait_until
from tests.fixtures.bot import ADMIN, CHANNEL, SIGNING_SECRET, TEAM, Bot, SlackClient

FOREIGN = "T0EVILCORP"
STRANGER_ABROAD = "U0EVIL0001"


@pytest.fixture
def from_team(slack_api: Any) -> Iterator[Callable[[Bot, str], SlackClient]]:
    clients: list[SlackClient] = []

    def client(bot: Bot, team: str) -> SlackClient:
        clients.append(SlackClient(bot.url, SIGNING_SECRET, slack_api.response_url, team=team))
        return clients[-1]

    yield client
    for made in clients:
        made.close()


def _refused(seen: Seen) -> Any:
    refused = seen.private("Not allowed: this bot takes commands only from its own Slack workspace")
    assert seen.in_channel() == []
    return refused


def test_a_command_from_another_workspace_is_refused_privately_and_audited(
    bot: Bot, seen: Seen, simulator: Any, from_team: Callable[[Bot, str], SlackClient]
) -> None:
    simulator.control.reset_stats()

    from_team(bot, FOREIGN).command("participants VMR_1", user=STRANGER_ABROAD)

    refused = _refused(seen)
    assert "Alice" not in refused.text
    entry = audited(bot, user=STRANGER_ABROAD, command="participants", outcome="denied")
    assert FOREIGN in entry.detail
    assert simulator.control.stats()["requests_total"] == 0


def test_even_an_admin_id_clicking_from_another_workspace_is_refused(
    bot: Bot, seen: Seen, simulator: Any, from_team: Callable[[Bot, str], SlackClient]
) -> None:
    alice = stable_id("participant", "VMR_1", "Alice Parkes")
    value = json.dumps({"c": "mute", "a": {"participant": {"query": alice}}})
    button = {"action_id": "participant_mute", "value": value}

    from_team(bot, FOREIGN).click(button, user=ADMIN)

    _refused(seen)
    audited(bot, user=ADMIN, command="mute", outcome="denied")
    assert node_commands(simulator) == []


def test_form_options_for_another_workspace_are_empty(
    bot: Bot, from_team: Callable[[Bot, str], SlackClient]
) -> None:
    view = {"id": "V0FORM0001", "type": "modal", "callback_id": "dial_form"}

    offered = from_team(bot, FOREIGN).suggest(view, "conference_choice", "", user=ADMIN)

    assert offered.json() == {"options": []}
    audited(bot, user=ADMIN, command="dial", outcome="denied", target="conference options")


def test_allowed_teams_replace_the_bots_own(
    bot_with: Callable[..., Bot], seen: Seen, from_team: Callable[[Bot, str], SlackClient]
) -> None:
    bot = bot_with(SLACK_ALLOWED_TEAMS="T0PARTNER1")

    bot.slack.command("conferences", user=ADMIN)  # the bot's own team, no longer listed
    _refused(seen)
    from_team(bot, "T0PARTNER1").command("conferences", user=ADMIN)
    seen.private("Running conferences")


def test_an_enterprise_id_admits_every_workspace_of_the_org(
    bot_with: Callable[..., Bot], seen: Seen
) -> None:
    bot = bot_with(SLACK_ALLOWED_TEAMS=f"{TEAM},E0ORG0001")
    payload = {
        "type": "block_actions",
        "user": {"id": ADMIN, "team_id": "T0SISTER01"},
        "team": {"id": "T0SISTER01"},
        "enterprise": {"id": "E0ORG0001"},
        "channel": {"id": CHANNEL},
        "response_url": bot.slack.response_url("grid", channel=CHANNEL, user=ADMIN),
        "actions": [
            {
                "action_id": "conference_participants",
                "value": '{"c": "participants", "a": {"conference": "VMR_1"}}',
            }
        ],
    }

    bot.slack.interact(payload)
    seen.private("VMR_1: 3 participants")

    bot.slack.interact({**payload, "enterprise": {"id": "E0OTHER01"}})
    _refused(seen)


def test_a_bad_allowed_team_stops_start_up(bot_with: Callable[..., Bot]) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="SLACK_ALLOWED_TEAMS: 'acme' is not a Slack team ID"):
        bot_with(SLACK_ALLOWED_TEAMS="T0TEST001, acme")


def test_an_unknown_button_clicked_from_another_workspace_is_refused_not_explained(
    bot: Bot, seen: Seen, simulator: Any, from_team: Callable[[Bot, str], SlackClient]
) -> None:
    simulator.control.reset_stats()
    button = {"action_id": "conference_recall_v1", "value": "lock VMR_2", "block_id": "b1"}

    assert from_team(bot, FOREIGN).click(button, user=STRANGER_ABROAD).status_code == 200

    refused = _refused(seen)
    assert "out of date" not in refused.text
    audited(bot, user=STRANGER_ABROAD, command="button", outcome="denied")
    assert simulator.control.stats()["requests_total"] == 0


def test_each_workspace_is_answered_as_its_own_on_the_web_api(
    bot_with: Callable[..., Bot],
    seen: Seen,
    slack_api: Any,
    from_team: Callable[[Bot, str], SlackClient],
) -> None:
    """A queued command keeps one Web API client per workspace (not its request's): each
    workspace's results still go out with its own team_id, in any order."""
    bot = bot_with(SLACK_ALLOWED_TEAMS=f"{TEAM},T0PARTNER1")
    partner = from_team(bot, "T0PARTNER1")

    for team, send, word in (
        ("T0PARTNER1", partner.command, "mute"),
        (TEAM, bot.slack.command, "unmute"),
        ("T0PARTNER1", partner.command, "mute"),
    ):
        before = len(slack_api.state.calls("chat.postMessage"))
        send(f'{word} "Alice Parkes"', user=ADMIN)
        posted = wait_until(
            lambda since=before: slack_api.state.calls("chat.postMessage")[since:] or None,
            what=f"the {word} result posted through the Web API",
        )
        assert f"{word}d Alice Parkes" in posted[0].params["text"]
        assert [call.params.get("team_id") for call in posted] == [team]
