"""Who may run what, where (INTERFACE §5): the decision matrix, the profile, and bad files.

User-group membership here comes from a fixed in-process directory; resolving it through the
Slack Web API (over HTTP) is covered in test_usergroups.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.auth.permissions import (
    ALWAYS_ALLOWED,
    PERMISSIONS,
    Authorizer,
    ConferenceScope,
    PolicyError,
    load_policy,
    parse_policy,
)
from bot.config import ConfigError
from bot.slack.usergroups import MembershipUnavailable

POLICY = """\
roles:
  viewer:
    allow: [conferences, participants]
  moderator:
    allow: [conferences, participants, dial, mute, unmute, disconnect, admit, transfer,
            role, layout, lock, unlock, mute-guests, unmute-guests, end]
    conferences: ["VMR_*", "*@meet.example.com"]
  operator:
    allow: [sync, backup]
  admin:
    allow: ["*"]
assign:
  admin: [U0ADMIN01]
  moderator: [U0MOD0001, "@AV-Team", S0GROUP01]
  operator: [U0OPS0001]
  viewer: ["*"]
channels: [C0ROOMS01, C0ROOMS02]
"""

ROOMS, RANDOM = "C0ROOMS01", "C0RANDOM1"
VMR_1 = ConferenceScope(name="VMR_1", aliases=("vmr1@example.com",))
BOARD = ConferenceScope(name="Board Room", aliases=("1234", "Board@Meet.Example.com"))
SALES = ConferenceScope(name="Sales", aliases=("sales@other.example.com",))

GROUPS = {"U0AVTEAM1": frozenset({"S0AVTEAM1", "@av-team"}), "U0GROUP01": frozenset({"S0GROUP01"})}


class Directory:
    """Fixed group membership; counts how often it is asked, and can be made unavailable."""

    def __init__(self, groups: dict[str, frozenset[str]], down: str | None = None) -> None:
        self.groups, self.down, self.asked = groups, down, 0

    async def groups_of(self, user_id: str) -> frozenset[str]:
        self.asked += 1
        if self.down:
            raise MembershipUnavailable(self.down)
        return self.groups.get(user_id, frozenset())


def authorizer(directory: Directory | None = None, text: str = POLICY) -> Authorizer:
    return Authorizer(parse_policy(text), directory or Directory(GROUPS))


# --- the matrix ------------------------------------------------------------------------------
# What each user should be able to do, written out literally (no globs) so that the expected
# outcome does not come from the code under test.

EVERY = frozenset(PERMISSIONS)
MODERATION = frozenset(PERMISSIONS) - {"sync", "status", "backup", "restore"}
VIEWING = frozenset({"conferences", "participants"})
ANYWHERE = None
MODERATOR_CONFERENCES = frozenset({"VMR_1", "Board Room"})  # VMR_* by name, alias *@meet...


@dataclass(frozen=True)
class Grant:
    permissions: frozenset[str]
    conferences: frozenset[str] | None


USERS: dict[str, tuple[Grant, ...]] = {
    "admin": (Grant(EVERY, ANYWHERE), Grant(VIEWING, ANYWHERE)),
    "moderator": (Grant(MODERATION, MODERATOR_CONFERENCES), Grant(VIEWING, ANYWHERE)),
    "group-handle": (Grant(MODERATION, MODERATOR_CONFERENCES), Grant(VIEWING, ANYWHERE)),
    "group-id": (Grant(MODERATION, MODERATOR_CONFERENCES), Grant(VIEWING, ANYWHERE)),
    "operator": (Grant(frozenset({"sync", "backup"}), ANYWHERE), Grant(VIEWING, ANYWHERE)),
    "anyone": (Grant(VIEWING, ANYWHERE),),
}
USER_IDS = {
    "admin": "U0ADMIN01",
    "moderator": "U0MOD0001",
    "group-handle": "U0AVTEAM1",
    "group-id": "U0GROUP01",
    "operator": "U0OPS0001",
    "anyone": "U0NOBODY1",
}
CONFERENCES = {"VMR_1": VMR_1, "Board Room": BOARD, "Sales": SALES, "any": None}
CHANNELS = {"listed-channel": ROOMS, "other-channel": RANDOM}


def expected(user: str, permission: str, conference: str, channel: str) -> str:
    if permission in ALWAYS_ALLOWED:
        return "allowed"
    if channel != "listed-channel":
        return "channel_not_allowed"
    holding = [g for g in USERS[user] if permission in g.permissions]
    if not holding:
        return "missing_permission"
    if conference == "any" or any(g.conferences is ANYWHERE for g in holding):
        return "allowed"
    in_scope = any(conference in (g.conferences or ()) for g in holding)
    return "allowed" if in_scope else "out_of_scope"


MATRIX = [
    pytest.param(
        user,
        permission,
        conference,
        channel,
        outcome,
        id="-".join((user, permission, conference, channel, outcome)),
    )
    for user, permission, conference, channel in itertools.product(
        USERS, (*PERMISSIONS, *ALWAYS_ALLOWED), CONFERENCES, CHANNELS
    )
    for outcome in [expected(user, permission, conference, channel)]
]


@pytest.mark.parametrize(("user", "permission", "conference", "channel", "outcome"), MATRIX)
async def test_matrix(user: str, permission: str, conference: str, channel: str, outcome: str):
    decision = await authorizer().check(
        USER_IDS[user], permission, channel_id=CHANNELS[channel], conference=CONFERENCES[conference]
    )

    assert decision.permission == permission
    assert (decision.reason or "allowed") == outcome
    assert decision.allowed is (outcome == "allowed")


def test_the_matrix_reaches_every_outcome():
    outcomes = {param.values[-1] for param in MATRIX}

    assert outcomes == {"allowed", "missing_permission", "out_of_scope", "channel_not_allowed"}


# --- the same rules, told as stories -------------------------------------------------------


async def test_a_denial_names_the_missing_permission():
    decision = await authorizer().check("U0NOBODY1", "mute", channel_id=ROOMS, conference=VMR_1)

    assert decision.detail == "you need the `mute` permission"


async def test_out_of_scope_names_the_conference_and_where_the_permission_applies():
    decision = await authorizer().check("U0MOD0001", "end", channel_id=ROOMS, conference=SALES)

    assert decision.reason == "out_of_scope"
    assert decision.detail == (
        "your `end` permission does not cover conference Sales "
        "(it covers `VMR_*`, `*@meet.example.com`)"  # code: a `*` in a pattern must not format
    )


async def test_wrong_channel_says_where_commands_are_accepted():
    decision = await authorizer().check("U0ADMIN01", "conferences", channel_id=RANDOM)

    assert decision.reason == "channel_not_allowed"
    assert decision.detail == "commands are only accepted in <#C0ROOMS01>, <#C0ROOMS02>"


async def test_unknown_channel_is_refused_when_channels_are_restricted():
    decision = await authorizer().check("U0ADMIN01", "conferences", channel_id=None)

    assert decision.reason == "channel_not_allowed"


async def test_any_channel_is_accepted_without_a_channels_list():
    policy = "roles:\n  admin:\n    allow: ['*']\nassign:\n  admin: [U0ADMIN01]\n"

    decision = await authorizer(text=policy).check("U0ADMIN01", "end", channel_id=RANDOM)

    assert decision.allowed


@pytest.mark.parametrize("permission", ALWAYS_ALLOWED)
@pytest.mark.parametrize("channel", [RANDOM, None])
async def test_help_and_whoami_work_anywhere_for_anyone_even_with_slack_down(permission, channel):
    directory = Directory(GROUPS, down="Slack could not be asked (fatal_error)")
    policy = POLICY.replace('  viewer: ["*"]\n', "")

    decision = await authorizer(directory, policy).check(
        "U0STRANGE", permission, channel_id=channel
    )

    assert decision.allowed
    assert directory.asked == 0


@pytest.mark.parametrize(
    "conference",
    [
        ConferenceScope(name="vmr_7"),
        ConferenceScope(name="Lobby", aliases=("lobby@MEET.example.com",)),
        ConferenceScope(name="Lobby", aliases=("9999", "x@meet.example.com")),
    ],
    ids=["name-any-case", "alias-any-case", "second-alias"],
)
async def test_scope_globs_match_name_or_any_alias_ignoring_case(conference):
    decision = await authorizer().check(
        "U0MOD0001", "mute", channel_id=ROOMS, conference=conference
    )

    assert decision.allowed


async def test_scope_does_not_match_a_mere_substring():
    conference = ConferenceScope(name="OLD_VMR_1", aliases=("a@meet.example.com.evil",))

    decision = await authorizer().check(
        "U0MOD0001", "mute", channel_id=ROOMS, conference=conference
    )

    assert decision.reason == "out_of_scope"


async def test_transfer_needs_the_permission_on_both_conferences():
    auth = authorizer()
    source = await auth.check("U0MOD0001", "transfer", channel_id=ROOMS, conference=VMR_1)
    target = await auth.check("U0MOD0001", "transfer", channel_id=ROOMS, conference=SALES)

    assert source.allowed
    assert not target.allowed


async def test_rights_are_the_union_of_roles_each_with_its_own_scope():
    policy = """\
roles:
  vmr-moderator: {allow: [mute], conferences: ["VMR_*"]}
  board-closer: {allow: [end, mute], conferences: ["Board*"]}
assign:
  vmr-moderator: [U0MOD0001]
  board-closer: [U0MOD0001]
"""
    auth = authorizer(text=policy)

    assert (await auth.check("U0MOD0001", "mute", channel_id=RANDOM, conference=VMR_1)).allowed
    assert (await auth.check("U0MOD0001", "mute", channel_id=RANDOM, conference=BOARD)).allowed
    assert (await auth.check("U0MOD0001", "end", channel_id=RANDOM, conference=BOARD)).allowed
    end_vmr = await auth.check("U0MOD0001", "end", channel_id=RANDOM, conference=VMR_1)
    assert end_vmr.reason == "out_of_scope"
    assert "(it covers `Board*`)" in end_vmr.detail


async def test_nobody_is_allowed_anything_by_default():
    policy = "roles:\n  admin:\n    allow: ['*']\n"
    auth = authorizer(text=policy)

    for permission in PERMISSIONS:
        decision = await auth.check("U0ADMIN01", permission, channel_id=ROOMS)
        assert decision.reason == "missing_permission"


async def test_unknown_permission_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown permission 'frobnicate'"):
        await authorizer().check("U0ADMIN01", "frobnicate", channel_id=ROOMS)


# --- user groups: asked only when they could make a difference, fail closed ------------------


async def test_slack_is_not_asked_when_a_direct_role_already_allows():
    directory = Directory(GROUPS, down="Slack could not be asked (fatal_error)")
    auth = authorizer(directory)

    assert (await auth.check("U0ADMIN01", "end", channel_id=ROOMS, conference=SALES)).allowed
    assert (await auth.check("U0NOBODY1", "participants", channel_id=ROOMS)).allowed
    assert directory.asked == 0


async def test_slack_is_not_asked_when_no_group_role_grants_the_permission():
    directory = Directory(GROUPS, down="Slack could not be asked (fatal_error)")

    decision = await authorizer(directory).check("U0NOBODY1", "restore", channel_id=ROOMS)

    assert decision.reason == "missing_permission"
    assert directory.asked == 0


async def test_slack_is_not_asked_when_the_policy_names_no_groups():
    directory = Directory(GROUPS)
    policy = "roles:\n  viewer:\n    allow: [conferences]\nassign:\n  viewer: [U0MOD0001]\n"
    auth = authorizer(directory, policy)

    await auth.check("U0NOBODY1", "mute", channel_id=ROOMS)
    await auth.profile("U0NOBODY1")

    assert directory.asked == 0


async def test_group_lookup_failure_denies_and_says_why():
    directory = Directory(GROUPS, down="Slack could not be asked for user-group membership (x)")

    decision = await authorizer(directory).check(
        "U0AVTEAM1", "mute", channel_id=ROOMS, conference=VMR_1
    )

    assert not decision.allowed
    assert decision.reason == "membership_unavailable"
    assert decision.detail == (
        "Slack could not be asked for user-group membership (x), so it was refused"
    )


def test_a_policy_with_groups_needs_a_resolver():
    with pytest.raises(ValueError, match="membership resolver"):
        Authorizer(parse_policy(POLICY))


# --- whoami and help -------------------------------------------------------------------------


async def test_profile_lists_roles_permissions_and_scopes():
    profile = await authorizer().profile("U0AVTEAM1")

    assert [grant.role for grant in profile.roles] == ["moderator", "viewer"]
    assert profile.permissions == tuple(p for p in PERMISSIONS if p in MODERATION)
    assert profile.scopes("mute") == ("VMR_*", "*@meet.example.com")
    assert profile.scopes("participants") is None  # viewer: every conference
    assert profile.scopes("backup") == ()
    assert profile.channels == (ROOMS, "C0ROOMS02")
    assert profile.membership_error is None


async def test_help_shows_only_what_the_user_may_run():
    profile = await authorizer().profile("U0OPS0001")

    assert profile.commands == ("help", "whoami", "conferences", "participants", "sync", "backup")
    assert profile.may("whoami")
    assert profile.may("sync")
    assert not profile.may("mute")


async def test_admin_profile_has_every_permission():
    profile = await authorizer().profile("U0ADMIN01")

    assert profile.permissions == PERMISSIONS


async def test_profile_without_slack_shows_direct_roles_and_why_groups_are_missing():
    directory = Directory(GROUPS, down="Slack could not be asked for user-group membership (x)")

    profile = await authorizer(directory).profile("U0AVTEAM1")

    assert [grant.role for grant in profile.roles] == ["viewer"]
    assert profile.membership_error == "Slack could not be asked for user-group membership (x)"


# --- the permissions file -------------------------------------------------------------------


def test_example_file_is_valid_and_matches_the_interface():
    example = Path(__file__).resolve().parents[2] / "permissions.example.yaml"

    policy = load_policy(example)

    assert set(policy.roles) == {"viewer", "moderator", "admin"}
    assert policy.roles["admin"].permissions == PERMISSIONS
    assert policy.roles["moderator"].conferences == ("VMR_*", "*@meet.example.com")
    assert policy.assign["moderator"] == ("U0MOD0001", "@av-team", "S0GROUP01")
    assert policy.assign["viewer"] == ("*",)
    assert policy.channels == ("C0ROOMS01",)


def test_group_handles_are_matched_without_regard_to_case():
    policy = parse_policy(POLICY)

    assert policy.roles_of("U0X", frozenset({"@av-team"})) == ("moderator", "viewer")
    assert policy.group_refs == frozenset({"@av-team", "S0GROUP01"})


BASE = "roles:\n  moderator:\n    allow: [mute]\n"
BAD_FILES = [
    pytest.param(
        BASE + "assign:\n  moderator: [U0MOD0001]\n  moderatr: [U0MOD0002]\n",
        "{file} line 6: role 'moderatr' is assigned but not defined under roles "
        "(did you mean 'moderator'?)",
        id="undefined-role",
    ),
    pytest.param(
        "roles:\n  moderator:\n    allow:\n      - mute\n      - unmtue\n",
        "{file} line 5: role 'moderator', allow: unknown permission 'unmtue' "
        "(did you mean 'unmute'?)",
        id="unknown-permission",
    ),
    pytest.param(
        "roles:\n  moderator:\n    allow: [mute, reboot]\n",
        "{file} line 3: role 'moderator', allow: unknown permission 'reboot'",
        id="unknown-permission-no-suggestion",
    ),
    pytest.param(
        "roles:\n  moderator:\n    allow: [mute\n  viewer: {}\n",
        "{file} line 4: not valid YAML: while parsing a flow sequence: "
        "expected ',' or ']', but got ':'",
        id="yaml-syntax",
    ),
    pytest.param(
        "roles:\n\tmoderator: {}\n",
        "{file} line 2: not valid YAML: while scanning for the next token: "
        "found character '\\t' that cannot start any token",
        id="yaml-tab",
    ),
    pytest.param(
        BASE + "assign:\n  moderator: [*]\n",
        "{file} line 5: not valid YAML: while scanning an alias: expected alphabetic or numeric "
        "character, but found ']' (write \"*\" in quotes)",
        id="unquoted-star",
    ),
    pytest.param(
        BASE + "assign:\n  moderator: [U0MOD0001, alice]\n",
        "{file} line 5: assign 'moderator': 'alice' is not a Slack user ID (U…), "
        'a user-group handle (@team) or user-group ID (S…), or "*"',
        id="member-not-an-id",
    ),
    pytest.param(
        BASE + "assign:\n  moderator: [12345]\n",
        "{file} line 5: assign 'moderator': expected text, got int",
        id="member-not-text",
    ),
    pytest.param(
        BASE + "assign:\n  moderator: U0MOD0001\n",
        "{file} line 5: assign 'moderator': expected a list, e.g. [a, b], got str",
        id="assign-not-a-list",
    ),
    pytest.param(
        "roles:\n  moderator:\n    alow: [mute]\n",
        "{file} line 2: role 'moderator': 'allow' is missing; {file} line 3: "
        "role 'moderator': unknown key 'alow' (expected allow, conferences)",
        id="misspelt-allow",
    ),
    pytest.param(
        BASE + "asign:\n  moderator: [U0MOD0001]\n",
        "{file} line 4: unknown key 'asign' (expected roles, assign, channels, approval)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        "roles:\n  moderator:\n    allow: mute\n",
        "{file} line 3: role 'moderator', allow: expected a list, e.g. [a, b], got str",
        id="allow-not-a-list",
    ),
    pytest.param(
        "roles:\n  moderator:\n",
        "{file} line 2: role 'moderator': expected a mapping with an 'allow' list, got nothing",
        id="empty-role",
    ),
    pytest.param(
        "roles: [moderator]\n",
        "{file} line 1: roles: expected a mapping of names to entries, got list",
        id="roles-not-a-mapping",
    ),
    pytest.param(
        BASE + "    conferences: []\n",
        "{file} line 4: role 'moderator', conferences: an empty list matches nothing; "
        "leave the key out to mean everything",
        id="empty-conference-scope",
    ),
    pytest.param(
        BASE + "    conferences: VMR_*\n",
        "{file} line 4: role 'moderator', conferences: expected a list, e.g. [a, b], got str",
        id="conference-scope-not-a-list",
    ),
    pytest.param(
        BASE + "channels: [C0ROOMS01, '#av-ops']\n",
        "{file} line 4: channels: '#av-ops' is not a channel ID; "
        "use the ID (C…) from the bottom of the channel's details",
        id="channel-name-not-id",
    ),
    pytest.param(
        BASE + "  moderator:\n    allow: [end]\n",
        "{file} line 4: 'moderator' appears twice under roles",
        id="duplicate-role",
    ),
    pytest.param(
        'roles:\n  ops:\n    allow: [mute, sync, backup, restore]\n    conferences: ["VMR_*"]\n',
        "{file} line 3: role 'ops': sync, backup, restore act on the whole node, which a role "
        "with a `conferences` scope cannot grant; list only conference permissions here and "
        "give the node-wide ones in a role without `conferences`",
        id="scoped-node-wide-permissions",
    ),
    pytest.param(
        "roles:\n  viewer:\n    allow: [conferences]\n  vmr-admin:\n"
        '    conferences: ["VMR_*"]\n    allow: ["*"]\n',
        "{file} line 6: role 'vmr-admin': \"*\" includes the node-wide permissions sync, "
        "status, backup, restore, which a role with a `conferences` scope cannot grant; list only "
        "conference permissions here and give the node-wide ones in a role without "
        "`conferences`",
        id="scoped-star",
    ),
    pytest.param("assign: {}\n", "{file}: 'roles' is missing", id="no-roles"),
    pytest.param(
        "",
        "{file}: the file is empty; it needs a 'roles' mapping (see the example file)",
        id="empty-file",
    ),
    pytest.param(
        "- moderator\n",
        "{file}: the top level must be a mapping; "
        "it needs a 'roles' mapping (see the example file)",
        id="top-level-list",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_file_stops_start_up_naming_file_line_and_problem(tmp_path, text, message):
    path = tmp_path / "permissions.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(PolicyError) as error:
        load_policy(path)

    assert str(error.value) == message.replace("{file}", str(path))


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nope.yaml"

    with pytest.raises(PolicyError) as error:
        load_policy(path)

    assert (
        str(error.value) == f"{path}: cannot read the permissions file: No such file or directory"
    )


def test_policy_error_is_a_configuration_error():
    assert issubclass(PolicyError, ConfigError)
