"""Every command × every role × every way to give it (typed, a button, a pick among several
matches, a confirmation, a form, a form's options): allowed exactly when the policy says, and
when denied, no command reaches the management node (and no request at all when the user holds
the permission nowhere).

The expectation is the table below, read off `tests.fixtures.bot.POLICY` by hand; the commands
are those `handlers.registry` declares (a test fails if one has no row here)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.sandbox.simulator.seed import stable_id
from handlers import backups, conferences, dialling, health, help, participants
from handlers.participants import OpenTransferForm
from handlers.registry import REGISTRY
from tests.e2e.conftest import Seen, backup_files, wait_until
from tests.fixtures.bot import (
    ADMIN,
    CHANNEL,
    MODERATOR,
    POLICY,
    SCOPED,
    STRANGER,
    TEAM,
    VIEWER,
    SlackClient,
)
from tests.reliability.conftest import Launch, SecretBot, Tally

# --- the policy, by hand -----------------------------------------------------------------------

EVERYONE = {ADMIN, MODERATOR, SCOPED, VIEWER, STRANGER}
MAY = {  # permission → who holds it (SCOPED only on VMR_* and *@meet.example.com conferences)
    None: EVERYONE,  # help, whoami
    "conferences": {ADMIN, MODERATOR, SCOPED, VIEWER},
    "participants": {ADMIN, MODERATOR, SCOPED, VIEWER},
    "dial": {ADMIN, MODERATOR},
    "mute": {ADMIN, MODERATOR, SCOPED},
    "unmute": {ADMIN, MODERATOR, SCOPED},
    "disconnect": {ADMIN, MODERATOR},
    "admit": {ADMIN, MODERATOR},
    "transfer": {ADMIN, MODERATOR},
    "role": {ADMIN, MODERATOR, SCOPED},
    "layout": {ADMIN, MODERATOR, SCOPED},
    "lock": {ADMIN, MODERATOR, SCOPED},
    "unlock": {ADMIN, MODERATOR, SCOPED},
    "mute-guests": {ADMIN, MODERATOR},
    "unmute-guests": {ADMIN, MODERATOR},
    "end": {ADMIN, MODERATOR},
    "sync": {ADMIN},
    "status": {ADMIN},
    "backup": {ADMIN},
    "restore": {ADMIN},
}
UNSCOPED_EVEN_FOR_SCOPED = {None, "conferences"}  # no single conference to be out of scope


@dataclass(frozen=True)
class Role:
    name: str
    user: str
    inside: bool  # acting on conferences in SCOPED's scope (VMR_1, VMR_2) or outside it


ROLES = [
    Role("admin", ADMIN, True),
    Role("moderator", MODERATOR, True),
    Role("vmr-moderator", SCOPED, True),
    Role("vmr-moderator outside their scope", SCOPED, False),
    Role("viewer", VIEWER, True),
    Role("nobody", STRANGER, True),
]


def allowed(role: Role, permission: str | None) -> bool:
    if role.user not in MAY[permission]:
        return False
    return role.inside or role.user != SCOPED or permission in UNSCOPED_EVEN_FOR_SCOPED


# --- what each command is aimed at ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    conference: str
    ending: str  # a conference to end
    person: str
    person_in: str
    dial_alias: str
    dial_into: str


INSIDE = Target("VMR_1", "VMR_2", "Bob Smith", "VMR_1", "vmr3@meet.example.com", "VMR_3")
OUTSIDE = Target(
    "Board_Room", "Board_Room", "Frank Ng", "Board_Room", "board@example.com", "Board_Room"
)
WAITING = ("Eve Adams", "Board_Room")


def conference_id(name: str) -> str:
    return stable_id("conference", name)


def participant_id(name: str, conference: str) -> str:
    return stable_id("participant", conference, name)


# --- the ways to give a command ------------------------------------------------------------------

Send = Callable[[SecretBot, str, Target], httpx.Response]


@dataclass(frozen=True)
class Way:
    path: str
    send: Send
    seen: Callable[[Target], str]  # what the user sees when it is allowed
    public: bool = False
    node: str | None = None  # the command it sends to the node when allowed
    form: str | None = None  # or the form it opens (views.open)
    then: str | None = None  # afterwards, the message clicked is "replaced" or "deleted"


def typed_(text: Callable[[Target], str]) -> Send:
    return lambda bot, user, t: bot.slack.command(text(t), user=user)


def button(action_id: str, value: Callable[[Target], dict[str, Any]]) -> Send:
    """A button as the bot renders it: its value carries the typed command as compact JSON,
    `{"c": key, "a": arguments, "r": listing to refresh}` (handlers/registry.py)."""
    return lambda bot, user, t: bot.slack.click(
        {"action_id": action_id, "value": json.dumps(value(t))}, user=user
    )


def submit(
    callback: str,
    values: Callable[[Target], dict[str, Any]],
    meta: Callable[[Target], dict[str, str]],
) -> Send:
    def send(bot: SecretBot, user: str, t: Target) -> httpx.Response:
        view = {
            "type": "modal",
            "callback_id": callback,
            "private_metadata": json.dumps({"channel": CHANNEL, **meta(t)}),
            "blocks": [
                {"block_id": block, "element": {"action_id": "value"}} for block in values(t)
            ],
        }
        return bot.slack.submit(view, values(t), user=user)

    return send


def options(callback: str) -> Send:
    def send(bot: SecretBot, user: str, t: Target) -> httpx.Response:
        return bot.slack.interact(
            {
                "type": "block_suggestion",
                "user": {"id": user, "team_id": TEAM},
                "team": {"id": TEAM},
                "action_id": "conference_choice",
                "block_id": "conference",
                "value": "",
                "view": {"id": "V0MATRIX1", "type": "modal", "callback_id": callback},
            }
        )

    return send


def chosen(value: str) -> dict[str, Any]:
    return {"selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


NEWEST_BACKUP: list[str] = []  # the file a restore is about: the node's newest


def newest_backup() -> str:
    return NEWEST_BACKUP[-1]


def me(t: Target) -> str:
    return ""  # a form or an options list: nothing said


WAYS: dict[type, list[Way]] = {
    help.Help: [Way("typed", typed_(lambda t: "help"), lambda t: "Commands you may run")],
    help.WhoAmI: [Way("typed", typed_(lambda t: "whoami"), lambda t: "You are <@")],
    conferences.Conferences: [
        Way("typed", typed_(lambda t: "conferences"), lambda t: "Running conferences")
    ],
    participants.Participants: [
        Way(
            "typed", typed_(lambda t: f"participants {t.conference}"), lambda t: f"{t.conference}: "
        ),
        Way(
            "button",
            button(
                "conference_participants",
                lambda t: {"c": "participants", "a": {"conference": conference_id(t.conference)}},
            ),
            lambda t: f"{t.conference}: ",
        ),
    ],
    dialling.OpenDialModal: [Way("typed", typed_(lambda t: "dial"), me, form="dial_form")],
    dialling.Dial: [
        Way(
            "typed",
            typed_(lambda t: f"dial {t.dial_alias} zed@example.com"),
            lambda t: f"is dialling zed@example.com into {t.dial_into}",
            public=True,
            node="participant/dial",
        ),
        Way(
            "form",
            submit(
                "dial_form",
                lambda t: {
                    "conference": chosen(t.dial_alias),
                    "destination": {"value": "zed@example.com"},
                },
                lambda t: {},
            ),
            lambda t: f"is dialling zed@example.com into {t.dial_into}",
            public=True,
            node="participant/dial",
        ),
    ],
    participants.Transfer: [
        Way(
            "typed",
            typed_(lambda t: f'transfer "{t.person}" to vmr2@meet.example.com'),
            lambda t: f"transferred {t.person} in {t.person_in} to VMR_2",
            public=True,
            node="participant/transfer",
        ),
        Way(
            "form",
            submit(
                "transfer_form",
                lambda t: {"to_alias": chosen("vmr2@meet.example.com")},
                lambda t: {"participant": participant_id(t.person, t.person_in)},
            ),
            lambda t: f"transferred {t.person} in {t.person_in} to VMR_2",
            public=True,
            node="participant/transfer",
        ),
    ],
    OpenTransferForm: [
        Way(
            "button",
            button(
                "participant_transfer",
                lambda t: {
                    "c": "transfer form",
                    "a": {
                        "participant_id": participant_id(t.person, t.person_in),
                        "label": t.person,
                    },
                },
            ),
            me,
            form="transfer_form",
        ),
        Way("options", options("transfer_form"), me),
    ],
    conferences.End: [
        Way("typed", typed_(lambda t: f"end {t.ending}"), lambda t: f"End {t.ending} for"),
        Way(
            "button",  # Slack's own confirm dialog asked already
            button(
                "conference_end",
                lambda t: {
                    "c": "end",
                    "a": {"conference": conference_id(t.ending)},
                    "r": {"c": "conferences"},
                },
            ),
            lambda t: f"ended {t.ending}",
            public=True,
            node="conference/disconnect",
            then="replaced",
        ),
        Way(
            "confirmation",
            button("confirm", lambda t: {"c": "end", "a": {"conference": conference_id(t.ending)}}),
            lambda t: f"ended {t.ending}",
            public=True,
            node="conference/disconnect",
            then="deleted",
        ),
    ],
    conferences.Sync: [
        Way(
            "typed",
            typed_(lambda t: "sync 1"),
            lambda t: "synced template 1",
            True,
            "conference/sync",
        )
    ],
    health.Status: [Way("typed", typed_(lambda t: "status"), lambda t: "Pexip status")],
    backups.BackupNow: [
        Way(
            "typed",
            typed_(lambda t: "backup now"),
            lambda t: "succeeded",
            True,
            "platform/backup_create",
        ),
        Way(
            "button",  # Retry, under a failed backup's report
            button("backup_retry", lambda t: {"c": "backup now"}),
            lambda t: "succeeded",
            True,
            "platform/backup_create",
        ),
    ],
    backups.BackupList: [
        Way(
            "typed",
            typed_(lambda t: "backup list"),
            lambda t: "Backup files on the management node",
        )
    ],
    backups.BackupRestore: [
        Way(
            "typed",
            typed_(lambda t: f"backup restore {newest_backup()}"),
            lambda t: "Restore the management node from",
        ),
        Way(
            "confirmation",
            button(
                "confirm", lambda t: {"c": "backup restore", "a": {"filename": newest_backup()}}
            ),
            lambda t: "restored the management node from",
            True,
            "platform/backup_restore",
            then="deleted",
        ),
    ],
}


def _on_participant(
    word: str, action: str, done: str, node: str, who: Callable[[Target], tuple[str, str]]
) -> list[Way]:
    ways = [
        Way(
            "typed",
            typed_(lambda t: f'{word} "{who(t)[0]}"'),
            lambda t: f"{done} {who(t)[0]} in {who(t)[1]}",
            True,
            node,
        ),
        Way(
            "button",
            button(
                action,
                lambda t: {
                    "c": word,
                    "a": {"participant": {"query": participant_id(*who(t))}},
                    "r": {"c": "participants", "a": {"conference": conference_id(who(t)[1])}},
                },
            ),
            lambda t: f"{done} {who(t)[0]} in {who(t)[1]}",
            True,
            node,
            then="replaced",  # the listing it is in shows the new state
        ),
    ]
    if word == "mute":  # the buttons offered when a name matches several participants
        ways.append(
            Way(
                "pick",
                button(
                    "pick_0",
                    lambda t: {
                        "c": "mute",
                        "a": {"participant": {"query": participant_id(*who(t))}},
                    },
                ),
                lambda t: f"muted {who(t)[0]} in {who(t)[1]}",
                True,
                node,
                then="deleted",  # the question is taken away
            )
        )
    return ways


def _on_conference(word: str, action: str, done: str, node: str) -> list[Way]:
    return [
        Way(
            "typed",
            typed_(lambda t: f"{word} {t.conference}"),
            lambda t: f"{done} {t.conference}",
            True,
            node,
        ),
        Way(
            "button",
            button(
                action,
                lambda t: {
                    "c": word,
                    "a": {"conference": conference_id(t.conference)},
                    "r": {"c": "conferences"},
                },
            ),
            lambda t: f"{done} {t.conference}",
            True,
            node,
            then="replaced",
        ),
    ]


def _person(t: Target) -> tuple[str, str]:
    return t.person, t.person_in


WAYS |= {
    participants.Mute: _on_participant(
        "mute", "participant_mute", "muted", "participant/mute", _person
    ),
    participants.Unmute: _on_participant(
        "unmute", "participant_unmute", "unmuted", "participant/unmute", _person
    ),
    participants.Disconnect: _on_participant(
        "disconnect", "participant_disconnect", "disconnected", "participant/disconnect", _person
    ),
    participants.Admit: _on_participant(
        "admit", "participant_admit", "admitted", "participant/unlock", lambda t: WAITING
    ),
    participants.SetRole: [
        Way(
            "typed",
            typed_(lambda t: f'role "{t.person}" chair'),
            lambda t: f"made {t.person} in {t.person_in} a host (chair)",
            True,
            "participant/role",
        ),
        Way(
            "button",
            button(
                "participant_make_host",
                lambda t: {
                    "c": "role",
                    "a": {"participant": {"query": participant_id(*_person(t))}, "role": "chair"},
                    "r": {"c": "participants", "a": {"conference": conference_id(t.person_in)}},
                },
            ),
            lambda t: f"made {t.person} in {t.person_in} a host (chair)",
            True,
            "participant/role",
            then="replaced",
        ),
    ],
    conferences.SetLayout: [
        Way(
            "typed",
            typed_(lambda t: f"layout {t.conference} 1:7"),
            lambda t: f"changed the layout of {t.conference} to 1:7",
            True,
            "conference/transform_layout",
        ),
        Way(
            "choice",  # the listing's layout menu: the chosen option carries the command
            lambda bot, user, t: bot.slack.choose(
                {
                    "action_id": "conference_layout",
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": "5:7 · Adaptive Composition"},
                            "value": json.dumps(
                                {
                                    "c": "layout",
                                    "a": {
                                        "conference": conference_id(t.conference),
                                        "layout": "5:7",
                                    },
                                }
                            ),
                        }
                    ],
                },
                "5:7",
                user=user,
            ),
            lambda t: f"changed the layout of {t.conference} to 5:7",
            True,
            "conference/transform_layout",
        ),
    ],
    conferences.Lock: _on_conference("lock", "conference_lock", "locked", "conference/lock"),
    conferences.Unlock: _on_conference(
        "unlock", "conference_unlock", "unlocked", "conference/unlock"
    ),
    conferences.MuteGuests: _on_conference(
        "mute-guests", "conference_mute_guests", "muted all guests in", "conference/mute_guests"
    ),
    conferences.UnmuteGuests: _on_conference(
        "unmute-guests",
        "conference_unmute_guests",
        "unmuted all guests in",
        "conference/unmute_guests",
    ),
}
WAYS[dialling.OpenDialModal].append(Way("options", options("dial_form"), me))

PERMISSION = {  # by hand, INTERFACE §5: the command words, `backup` and `restore`
    help.Help: None,
    help.WhoAmI: None,
    conferences.Conferences: "conferences",
    participants.Participants: "participants",
    dialling.OpenDialModal: "dial",
    dialling.Dial: "dial",
    participants.Mute: "mute",
    participants.Unmute: "unmute",
    participants.Disconnect: "disconnect",
    participants.Admit: "admit",
    participants.Transfer: "transfer",
    OpenTransferForm: "transfer",
    participants.SetRole: "role",
    conferences.SetLayout: "layout",
    conferences.Lock: "lock",
    conferences.Unlock: "unlock",
    conferences.MuteGuests: "mute-guests",
    conferences.UnmuteGuests: "unmute-guests",
    conferences.End: "end",
    conferences.Sync: "sync",
    health.Status: "status",
    backups.BackupNow: "backup",
    backups.BackupList: "backup",
    backups.BackupRestore: "restore",
}

CELLS = [
    pytest.param(command, way, role, id=f"{command.__name__}-{way.path}-{role.name}")
    for command, ways in WAYS.items()
    for way in ways
    for role in ROLES
]


def test_every_command_the_bot_runs_has_rows_in_the_matrix() -> None:
    declared = {spec.model for spec in REGISTRY}
    assert set(WAYS) == declared
    assert set(PERMISSION) == declared
    assert all(
        REGISTRY.of(model).permission == permission for model, permission in PERMISSION.items()
    )


# --- running a cell ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch(BACKUP_NOW_COOLDOWN="0")  # each backup cell starts one (cooldown: see below)


PARTICIPANT_COMMANDS = {
    participants.Mute,
    participants.Unmute,
    participants.Disconnect,
    participants.Admit,
    participants.Transfer,
    participants.SetRole,
}
HIDDEN = ("Frank Ng", "Eve Adams")  # participants of Board_Room, outside SCOPED's scope


def denial(role: Role, permission: str, target: Target, command: type | None = None) -> str:
    if role.user in MAY[permission] and command in PARTICIPANT_COMMANDS:
        # out of scope, a participant is not found: the answer for a name matching nobody
        return "in the conferences you moderate"
    if role.user in MAY[permission]:  # held, but not on this conference
        return f"your `{permission}` permission does not cover conference"
    return f"you need the `{permission}` permission"


@pytest.mark.parametrize(("command", "way", "role"), CELLS)
def test_a_command_is_allowed_exactly_when_the_policy_says(
    bot: SecretBot,
    seen: Seen,
    simulator: Any,
    tally: Tally,
    command: type,
    way: Way,
    role: Role,
) -> None:
    target = INSIDE if role.inside else OUTSIDE
    permission = PERMISSION[command]
    if way.node in ("participant/dial", "platform/backup_create"):
        simulator.control.settings(answer_delay=0.05, backup_delay=0.05)
    if command is backups.BackupRestore:
        NEWEST_BACKUP.append(backup_files(simulator)[0]["filename"])
    simulator.control.reset_stats()

    response = way.send(bot, role.user, target)
    tally.matrix_cells += 1

    assert response.status_code == 200
    if allowed(role, permission):
        _saw_it_done(seen, simulator, way, response, target, role)
    else:
        assert permission is not None
        said = denial(role, permission, target, command)
        _saw_it_refused(seen, simulator, way, response, said)
        if role.user not in MAY[permission]:
            assert simulator.control.stats()["requests_total"] == 0
    if role.user == SCOPED:  # the privacy column: nobody outside their scope is ever named
        _names_no_one_outside_the_scope(seen)


def _names_no_one_outside_the_scope(seen: Seen) -> None:
    """Only as typed back in a "no participant matching '<typed>'" answer."""
    shown = " ".join(m.text + json.dumps(m.blocks) for m in seen.everything())
    for name in HIDDEN:
        assert name not in shown.replace(f"'{name}'", ""), f"{name} shown to a scoped moderator"


def _saw_it_done(
    seen: Seen, simulator: Any, way: Way, response: httpx.Response, target: Target, role: Role
) -> None:
    if way.path == "options":
        assert response.json()["options"], "no conference offered"
    elif way.form is not None:
        wait_until(lambda: _form(seen, way.form), 5, f"the {way.form}")
    else:
        fragment = way.seen(target)
        message = seen.public(fragment) if way.public else seen.private(fragment)
        assert "Not allowed" not in message.text
    if way.node is not None:
        commands = wait_until(lambda: simulator.control.stats()["commands"], 5, way.node)
        assert [c["command"] for c in commands] == [way.node]
    if way.node == "participant/dial":
        seen.update("zed@example.com into", timeout=5)  # followed until answered: then done
    if way.then == "replaced":
        seen.wait(lambda m: m.replace_original)
    elif way.then == "deleted":
        seen.deleted()
    if role.name.startswith("vmr-moderator") and "Running conferences" in way.seen(target):
        listing = seen.private("Running conferences")
        assert "Board_Room" not in listing.text  # only what is in their scope


def _form(seen: Seen, callback: str | None) -> bool:
    views = [c.params.get("view", {}) for c in seen.state.calls() if c.method.startswith("views.")]
    return any(v.get("callback_id") == callback for v in views)


def _saw_it_refused(
    seen: Seen, simulator: Any, way: Way, response: httpx.Response, said: str
) -> None:
    if way.path == "options":
        assert response.json() == {"options": []}
    elif said == "in the conferences you moderate":
        assert seen.private(said).text.startswith(":mag: No participant")
    else:
        denied = seen.private(said)
        assert denied.text.startswith(":no_entry: Not allowed:")
    assert simulator.control.stats()["commands"] == []
    assert [m for m in seen.everything() if not m.ephemeral] == []
    assert seen.state.calls("views.open") == []


# --- the paths an attacker tried (issue 19), each row stating what reached the node -------------

SCOPED_DIALLER = POLICY.replace(
    "allow: [conferences, participants, mute, unmute, lock, unlock, role, layout]",
    "allow: [conferences, participants, mute, unmute, lock, unlock, role, layout, dial, transfer]",
)
BOTS: dict[str, dict[str, str]] = {  # how each row's bot is configured
    "matrix": {"BACKUP_NOW_COOLDOWN": "0"},
    "scoped dialler": {"policy": SCOPED_DIALLER},
    "cooldown": {"BACKUP_NOW_COOLDOWN": "10m"},
    "keep one": {"BACKUP_NOW_COOLDOWN": "0", "BACKUP_KEEP": "1"},
}
FOREIGN_TEAM = "T0EVILCORP"
FRANK = participant_id("Frank Ng", "Board_Room")
ALICE = participant_id("Alice Parkes", "VMR_1")


@dataclass(frozen=True)
class Attempt:
    name: str
    bot: str  # a key of BOTS
    send: Callable[[SecretBot], httpx.Response]
    said: str  # a fragment of what the person is told; "" for an options list
    public: bool = False
    reached: tuple[str, ...] = ()  # the commands that reached the node, in order
    no_request: bool = False  # not even a lookup reached the node
    options: tuple[str, ...] | None = None  # for an options list: the values offered
    before: Callable[[SecretBot, Seen], None] | None = None  # done first, not counted


def typed_as(user: str, text: str) -> Callable[[SecretBot], httpx.Response]:
    return lambda bot: bot.slack.command(text, user=user)


def clicked_as(
    user: str, action_id: str, command: dict[str, Any]
) -> Callable[[SecretBot], httpx.Response]:
    value = json.dumps(command)
    return lambda bot: bot.slack.click({"action_id": action_id, "value": value}, user=user)


def from_abroad(
    act: Callable[[SlackClient], httpx.Response],
) -> Callable[[SecretBot], httpx.Response]:
    """Sent by someone of another Slack workspace (Slack Connect, Enterprise Grid)."""

    def send(bot: SecretBot) -> httpx.Response:
        client = SlackClient(bot.url, bot.slack.secret, bot.slack.response_url, team=FOREIGN_TEAM)
        try:
            return act(client)
        finally:
            client.close()

    return send


def picker(user: str, callback: str) -> Callable[[SecretBot], httpx.Response]:
    view = {"id": "V0MATRIX2", "type": "modal", "callback_id": callback}
    return lambda bot: bot.slack.suggest(view, "conference_choice", "", user=user)


def a_backup_first(bot: SecretBot, seen: Seen) -> None:
    bot.slack.command("backup now", user=ADMIN)
    seen.public("succeeded", timeout=10)


IN_SCOPE_ALIASES = (
    "meet@example.com",
    "vmr1@meet.example.com",
    "vmr2@meet.example.com",
    "vmr3@meet.example.com",
)
ATTEMPTS = [
    Attempt(
        "dial: destination is an out-of-scope conference's alias",
        "scoped dialler",
        typed_as(SCOPED, "dial vmr1@meet.example.com board@example.com"),
        "your `dial` permission does not cover conference board@example.com",
    ),
    Attempt(
        "dial: the same through the form",
        "scoped dialler",
        lambda bot: submit(
            "dial_form",
            lambda t: {
                "conference": chosen("vmr1@meet.example.com"),
                "destination": {"value": "sip:board@example.com"},
            },
            lambda t: {},
        )(bot, SCOPED, INSIDE),
        "your `dial` permission does not cover conference sip:board@example.com",
    ),
    Attempt(
        "dial: destination is an in-scope conference's alias",
        "scoped dialler",
        typed_as(SCOPED, "dial vmr1@meet.example.com vmr2@meet.example.com"),
        "is dialling vmr2@meet.example.com into VMR_1",
        public=True,
        reached=("participant/dial",),
    ),
    Attempt(
        "dial: an unscoped moderator may dial any conference in",
        "scoped dialler",
        typed_as(MODERATOR, "dial vmr1@meet.example.com board@example.com"),
        "is dialling board@example.com into VMR_1",
        public=True,
        reached=("participant/dial",),
    ),
    Attempt(
        "mute: a name only outside the scope",
        "matrix",
        typed_as(SCOPED, "mute fr"),
        "No participant matching 'fr' in the conferences you moderate",
    ),
    Attempt(
        "mute: an out-of-scope participant's id (a stale button)",
        "matrix",
        clicked_as(
            SCOPED, "participant_mute", {"c": "mute", "a": {"participant": {"query": FRANK}}}
        ),
        f"No participant has the id {FRANK} in the conferences you moderate",
    ),
    Attempt(
        "mute: a name matching in and out of scope offers only the in-scope one",
        "matrix",
        typed_as(SCOPED, "mute e"),  # Alice Parkes, Alice Cooper, Eve Adams, ...
        "participants match",
    ),
    Attempt(
        "lock: an idle out-of-scope conference by its alias is not named",
        "matrix",
        typed_as(SCOPED, "lock townhall@example.com"),
        "your `lock` permission does not cover conference townhall@example.com",
    ),
    Attempt(
        "dial picker: only in-scope conferences",
        "scoped dialler",
        picker(SCOPED, "dial_form"),
        "",
        options=IN_SCOPE_ALIASES,
    ),
    Attempt(
        "transfer picker: only in-scope conferences",
        "scoped dialler",
        picker(SCOPED, "transfer_form"),
        "",
        options=IN_SCOPE_ALIASES,
    ),
    Attempt(
        "another workspace: typed, by an admin's user id",
        "matrix",
        from_abroad(lambda client: client.command(f"mute {ALICE}", user=ADMIN)),
        "this bot takes commands only from its own Slack workspace",
        no_request=True,
    ),
    Attempt(
        "another workspace: a button",
        "matrix",
        from_abroad(
            lambda client: client.click(
                {
                    "action_id": "participant_mute",
                    "value": json.dumps({"c": "mute", "a": {"participant": {"query": ALICE}}}),
                },
                user=ADMIN,
            )
        ),
        "this bot takes commands only from its own Slack workspace",
        no_request=True,
    ),
    Attempt(
        "another workspace: a form's options",
        "matrix",
        from_abroad(
            lambda client: client.suggest(
                {"id": "V0MATRIX3", "type": "modal", "callback_id": "dial_form"},
                "conference_choice",
                "",
                user=ADMIN,
            )
        ),
        "",
        no_request=True,
        options=(),
    ),
    Attempt(
        "backup now within the cooldown",
        "cooldown",
        typed_as(ADMIN, "backup now"),
        "another is allowed from",
        no_request=True,
        before=a_backup_first,
    ),
    Attempt(
        "backup now with more files than BACKUP_KEEP deletes nothing",
        "keep one",
        typed_as(ADMIN, "backup now"),
        "Nothing was pruned: old backups are pruned only by the nightly job.",
        public=True,
        reached=("platform/backup_create",),
    ),
]


@pytest.fixture(scope="module")
def bots(launch: Launch) -> dict[str, SecretBot]:
    return {name: launch(**env) for name, env in BOTS.items()}


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.name for a in ATTEMPTS])
def test_each_path_tried_reaches_the_node_only_as_the_row_says(
    bots: dict[str, SecretBot], seen: Seen, simulator: Any, tally: Tally, attempt: Attempt
) -> None:
    bot = bots[attempt.bot]
    simulator.control.settings(answer_delay=0.05, backup_delay=0.05)
    if attempt.before is not None:
        attempt.before(bot, seen)
        seen.state.reset()
    simulator.control.reset_stats()

    response = attempt.send(bot)
    tally.matrix_cells += 1

    assert response.status_code == 200
    if attempt.options is not None:
        assert [o["value"] for o in response.json()["options"]] == list(attempt.options)
    elif attempt.public:
        seen.public(attempt.said, timeout=10)
    else:
        seen.private(attempt.said)
    if attempt.reached:
        wait_until(lambda: simulator.control.stats()["commands"], 5, attempt.reached[0])
    if attempt.reached == ("participant/dial",):
        seen.update("into VMR_1", timeout=5)  # followed until answered
    stats = simulator.control.stats()
    assert tuple(c["command"] for c in stats["commands"]) == attempt.reached
    assert not [path for path in stats["requests"] if path.startswith("DELETE")]
    if attempt.no_request:
        assert stats["requests_total"] == 0
    _names_no_one_outside_the_scope(seen)


def test_a_scoped_role_granting_node_wide_permissions_stops_start_up(launch: Launch) -> None:
    from bot.auth.policy import PolicyError

    policy = POLICY.replace(
        "allow: [conferences, participants, mute, unmute, lock, unlock, role, layout]",
        "allow: [mute, sync, backup, restore]",
    )
    with pytest.raises(PolicyError, match="role 'vmr-moderator': sync, backup, restore act on"):
        launch(policy=policy)
