"""The workspace gate against the Slack Web API stand-in: the bot's own team from `auth.test`,
or SLACK_ALLOWED_TEAMS; closed while Slack cannot say."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.auth.teams import TeamGate, Workspace


def _web(slack_api: Any) -> AsyncWebClient:
    return AsyncWebClient(token=slack_api.bot_token, base_url=slack_api.url)


async def test_by_default_only_the_bots_own_team_is_allowed(slack_api: Any) -> None:
    gate = TeamGate(_web(slack_api))
    own = slack_api.state.team_id

    assert await gate.allows(Workspace(own, own))
    assert not await gate.allows(Workspace("T0EVILCORP", "T0EVILCORP"))
    assert not await gate.allows(Workspace(own, "T0EVILCORP"))  # a guest of a shared channel
    assert not await gate.allows(Workspace(""))
    assert len(slack_api.state.calls("auth.test")) == 1  # asked once


async def test_without_an_answer_from_slack_everyone_is_refused_until_it_answers(
    slack_api: Any,
) -> None:
    gate = TeamGate(_web(slack_api))
    own = slack_api.state.team_id
    slack_api.state.fail("auth.test", error="invalid_auth")

    assert not await gate.allows(Workspace(own))
    assert await gate.allows(Workspace(own))


async def test_configured_teams_and_enterprise(slack_api: Any) -> None:
    gate = TeamGate(_web(slack_api), frozenset({"T0PARTNER1", "E0ORG0001"}))

    assert await gate.allows(Workspace("T0PARTNER1"))
    assert await gate.allows(Workspace("T0SISTER01", "T0SISTER01", "E0ORG0001"))
    assert not await gate.allows(Workspace(slack_api.state.team_id))
    assert slack_api.state.calls("auth.test") == []
