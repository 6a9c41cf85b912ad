"""User-group membership read from Slack over HTTP (the local Web API stand-in), cached ≤ 5 min,
and refused (fail closed) whenever Slack cannot be asked."""

from __future__ import annotations

import asyncio
import socket

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth.permissions import Authorizer, ConferenceScope, parse_policy
from bot.sandbox.slack_api import SlackStandIn
from bot.slack.usergroups import MembershipUnavailable, SlackUserGroups

POLICY = """\
roles:
  moderator:
    allow: [mute, end]
    conferences: ["VMR_*"]
  backup-operator:
    allow: [backup]
assign:
  moderator: ["@av-team", S0GROUP01]
  backup-operator: [U0OPS0001]
"""
VMR_1 = ConferenceScope(name="VMR_1")
AV_TEAM = {"id": "S0AVTEAM1", "handle": "av-team", "name": "AV team", "users": ["U0ALICE01"]}
OTHER = {"id": "S0GROUP01", "handle": "nightshift", "users": ["U0BOB0001", "U0ALICE01"]}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(slack_api: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=slack_api.bot_token, base_url=slack_api.url)


@pytest.fixture
def groups(client: AsyncWebClient, clock: Clock) -> SlackUserGroups:
    return SlackUserGroups(client, clock=clock)


def authorizer(groups: SlackUserGroups) -> Authorizer:
    return Authorizer(parse_policy(POLICY), groups)


async def may_mute(auth: Authorizer, user: str) -> bool:
    decision = await auth.check(user, "mute", channel_id="C0ROOMS01", conference=VMR_1)
    return decision.allowed


async def test_members_of_a_group_named_by_handle_or_id_get_its_role(slack_api, groups):
    slack_api.state.set_usergroups([AV_TEAM, OTHER])
    auth = authorizer(groups)

    assert await may_mute(auth, "U0ALICE01")  # @av-team
    assert await may_mute(auth, "U0BOB0001")  # S0GROUP01
    assert not await may_mute(auth, "U0CAROL01")


async def test_groups_of_names_each_group_by_id_and_handle(slack_api, groups):
    slack_api.state.set_usergroups([AV_TEAM, {**OTHER, "handle": "NightShift"}])

    assert await groups.groups_of("U0ALICE01") == {
        "S0AVTEAM1",
        "@av-team",
        "S0GROUP01",
        "@nightshift",
    }
    assert await groups.groups_of("U0NOBODY1") == frozenset()


async def test_one_slack_call_answers_many_checks_within_five_minutes(slack_api, groups, clock):
    slack_api.state.set_usergroups([AV_TEAM, OTHER])
    auth = authorizer(groups)

    for user in ("U0ALICE01", "U0BOB0001", "U0CAROL01", "U0ALICE01"):
        await may_mute(auth, user)
    clock.now += 299

    await may_mute(auth, "U0ALICE01")

    calls = slack_api.state.calls()
    assert [call.method for call in calls] == ["usergroups.list"]
    assert calls[0].params["include_users"] == "1"


async def test_membership_changes_are_seen_after_five_minutes(slack_api, groups, clock):
    slack_api.state.set_usergroups([AV_TEAM])
    auth = authorizer(groups)
    assert await may_mute(auth, "U0ALICE01")

    slack_api.state.set_usergroups([{**AV_TEAM, "users": ["U0CAROL01"]}])
    clock.now += 60
    assert await may_mute(auth, "U0ALICE01")  # still cached
    clock.now += 240

    assert not await may_mute(auth, "U0ALICE01")
    assert await may_mute(auth, "U0CAROL01")
    assert len(slack_api.state.calls("usergroups.list")) == 2


async def test_the_cache_lifetime_can_be_shortened(client, slack_api, clock):
    slack_api.state.set_usergroups([AV_TEAM])
    groups = SlackUserGroups(client, ttl=10, clock=clock)

    await groups.groups_of("U0ALICE01")
    clock.now += 10
    await groups.groups_of("U0ALICE01")

    assert len(slack_api.state.calls("usergroups.list")) == 2


async def test_a_member_list_cut_short_is_completed_with_usergroups_users_list(slack_api, groups):
    many = {**OTHER, "users": ["U0A000001", "U0A000002", "U0BOB0001"]}
    slack_api.state.set_usergroups([AV_TEAM, many], list_user_cap=1)

    assert await groups.groups_of("U0BOB0001") == {"S0GROUP01", "@nightshift"}
    assert await groups.groups_of("U0ALICE01") == {"S0AVTEAM1", "@av-team"}

    calls = slack_api.state.calls()
    assert [call.method for call in calls] == ["usergroups.list", "usergroups.users.list"]
    assert calls[1].params["usergroup"] == "S0GROUP01"


async def test_concurrent_checks_share_one_refresh(slack_api, groups):
    slack_api.state.set_usergroups([AV_TEAM])
    slack_api.state.set_latency("usergroups.list", 0.05)
    auth = authorizer(groups)

    results = await asyncio.gather(*(may_mute(auth, "U0ALICE01") for _ in range(10)))

    assert all(results)
    assert len(slack_api.state.calls("usergroups.list")) == 1


async def test_slack_is_not_asked_when_a_direct_role_decides(slack_api, groups):
    auth = authorizer(groups)

    decision = await auth.check("U0OPS0001", "backup", channel_id="C0ROOMS01")

    assert decision.allowed
    assert slack_api.state.calls() == []


# --- fail closed ----------------------------------------------------------------------------


async def test_slack_error_denies_and_says_why_without_the_token(slack_api, groups):
    slack_api.state.set_usergroups([AV_TEAM])
    slack_api.state.fail("usergroups.list", 500)
    auth = authorizer(groups)

    decision = await auth.check("U0ALICE01", "mute", channel_id="C0ROOMS01", conference=VMR_1)

    assert not decision.allowed
    assert decision.reason == "membership_unavailable"
    assert decision.detail == (
        "Slack could not be asked for user-group membership (usergroups.list: fatal_error), "
        "so it was refused"
    )
    assert slack_api.bot_token not in decision.detail


async def test_after_a_failure_the_next_check_asks_again_and_recovers(slack_api, groups):
    slack_api.state.set_usergroups([AV_TEAM])
    slack_api.state.fail("usergroups.list", 500)
    auth = authorizer(groups)

    assert not await may_mute(auth, "U0ALICE01")
    assert await may_mute(auth, "U0ALICE01")


async def test_an_expired_cache_is_not_used_when_slack_fails(slack_api, groups, clock):
    slack_api.state.set_usergroups([AV_TEAM])
    auth = authorizer(groups)
    assert await may_mute(auth, "U0ALICE01")

    clock.now += 300
    slack_api.state.fail("usergroups.list", 500)

    assert not await may_mute(auth, "U0ALICE01")


async def test_rate_limit_is_respected_until_retry_after_passes(slack_api, groups, clock):
    slack_api.state.set_usergroups([AV_TEAM])
    slack_api.state.fail("usergroups.list", 429, retry_after=30)
    auth = authorizer(groups)

    first = await auth.check("U0ALICE01", "mute", channel_id="C0ROOMS01", conference=VMR_1)
    clock.now += 29
    second = await auth.check("U0ALICE01", "mute", channel_id="C0ROOMS01", conference=VMR_1)

    assert first.reason == second.reason == "membership_unavailable"
    assert "(usergroups.list: rate limited, retry after 30 s)" in second.detail
    assert len(slack_api.state.calls("usergroups.list")) == 1
    clock.now += 1
    assert await may_mute(auth, "U0ALICE01")


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("missing_scope", "missing_scope, the app needs usergroups:read"),
        ("plan_upgrade_required", "plan_upgrade_required"),
    ],
)
async def test_slack_refusals_are_named(slack_api, groups, error, reason):
    slack_api.state.fail("usergroups.list", error=error)

    with pytest.raises(MembershipUnavailable) as raised:
        await groups.groups_of("U0ALICE01")

    assert str(raised.value) == (
        f"Slack could not be asked for user-group membership (usergroups.list: {reason})"
    )


async def test_a_wrong_token_is_named_but_not_shown(slack_api, clock):
    client = AsyncWebClient(token="xoxb-wrong-token", base_url=slack_api.url)

    with pytest.raises(MembershipUnavailable) as raised:
        await SlackUserGroups(client, clock=clock).groups_of("U0ALICE01")

    assert "invalid_auth" in str(raised.value)
    assert "xoxb-wrong-token" not in str(raised.value)


async def test_unreachable_slack_denies(clock):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = AsyncWebClient(
        token="xoxb-token", base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[]
    )
    auth = Authorizer(parse_policy(POLICY), SlackUserGroups(client, clock=clock))

    decision = await auth.check("U0ALICE01", "mute", channel_id="C0ROOMS01", conference=VMR_1)

    assert decision.reason == "membership_unavailable"
    assert decision.detail == (
        "Slack could not be asked for user-group membership "
        f"(usergroups.list: cannot connect to 127.0.0.1:{port}), so it was refused"
    )
