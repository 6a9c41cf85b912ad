"""Every command × every role × every way to give it (typed, a button, a pick among several
matches, a confirmation, a form, a form's options): allowed exactly when the policy says, and
when denied, no command reaches the management node (and no request at all when the user holds
the permission nowhere).

The expectation is the table below, read off `tests.fixtures.bot.POLICY` by hand; the commands
are those `handlers.dispatch` runs (a test fails if one has no row here)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.sandbox.simulator.seed import stable_id
from handlers import commands as typed
from handlers.dispatch import EXECUTORS
from handlers.participants import OpenTransferForm
from tests.e2e.conftest import Seen, backup_files, wait_until
from tests.fixtures.bot import ADMIN, CHANNEL, MODERATOR, SCOPED, STRANGER, TEAM, VIEWER
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
    "lock": {ADMIN, MODERATOR, SCOPED},
    "unlock": {ADMIN, MODERATOR, SCOPED},
    "mute-guests": {ADMIN, MODERATOR},
    "unmute-guests": {ADMIN, MODERATOR},
    "end": {ADMIN, MODERATOR},
    "sync": {ADMIN},
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
    """A button as the bot renders it: its value carries the command line (blocks.py)."""
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
    typed.Help: [Way("typed", typed_(lambda t: "help"), lambda t: "Commands you may run")],
    typed.WhoAmI: [Way("typed", typed_(lambda t: "whoami"), lambda t: "You are <@")],
    typed.Conferences: [
        Way("typed", typed_(lambda t: "conferences"), lambda t: "Running conferences")
    ],
    typed.Participants: [
        Way(
            "typed", typed_(lambda t: f"participants {t.conference}"), lambda t: f"{t.conference}: "
        ),
        Way(
            "button",
            button(
                "conference_participants",
                lambda t: {"c": f"participants {conference_id(t.conference)}"},
            ),
            lambda t: f"{t.conference}: ",
        ),
    ],
    typed.OpenDialModal: [Way("typed", typed_(lambda t: "dial"), me, form="dial_form")],
    typed.Dial: [
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
    typed.Transfer: [
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
                lambda t: {"p": participant_id(t.person, t.person_in), "l": t.person},
            ),
            me,
            form="transfer_form",
        ),
        Way("options", options("transfer_form"), me),
    ],
    typed.End: [
        Way("typed", typed_(lambda t: f"end {t.ending}"), lambda t: f"End {t.ending} for"),
        Way(
            "button",  # Slack's own confirm dialog asked already
            button(
                "conference_end",
                lambda t: {"c": f"end {conference_id(t.ending)}", "r": "conferences"},
            ),
            lambda t: f"ended {t.ending}",
            public=True,
            node="conference/disconnect",
            then="replaced",
        ),
        Way(
            "confirmation",
            button("confirm", lambda t: {"c": f"end {conference_id(t.ending)}"}),
            lambda t: f"ended {t.ending}",
            public=True,
            node="conference/disconnect",
            then="deleted",
        ),
    ],
    typed.Sync: [
        Way(
            "typed",
            typed_(lambda t: "sync 1"),
            lambda t: "synced template 1",
            True,
            "conference/sync",
        )
    ],
    typed.BackupNow: [
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
    typed.BackupList: [
        Way(
            "typed",
            typed_(lambda t: "backup list"),
            lambda t: "Backup files on the management node",
        )
    ],
    typed.BackupRestore: [
        Way(
            "typed",
            typed_(lambda t: f"backup restore {newest_backup()}"),
            lambda t: "Restore the management node from",
        ),
        Way(
            "confirmation",
            button("confirm", lambda t: {"c": f"backup restore {newest_backup()}"}),
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
                    "c": f"{word} {participant_id(*who(t))}",
                    "r": f"participants {conference_id(who(t)[1])}",
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
                button("pick_0", lambda t: {"c": f"mute {participant_id(*who(t))}"}),
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
                action, lambda t: {"c": f"{word} {conference_id(t.conference)}", "r": "conferences"}
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
    typed.Mute: _on_participant("mute", "participant_mute", "muted", "participant/mute", _person),
    typed.Unmute: _on_participant(
        "unmute", "participant_unmute", "unmuted", "participant/unmute", _person
    ),
    typed.Disconnect: _on_participant(
        "disconnect", "participant_disconnect", "disconnected", "participant/disconnect", _person
    ),
    typed.Admit: _on_participant(
        "admit", "participant_admit", "admitted", "participant/unlock", lambda t: WAITING
    ),
    typed.Lock: _on_conference("lock", "conference_lock", "locked", "conference/lock"),
    typed.Unlock: _on_conference("unlock", "conference_unlock", "unlocked", "conference/unlock"),
    typed.MuteGuests: _on_conference(
        "mute-guests", "conference_mute_guests", "muted all guests in", "conference/mute_guests"
    ),
    typed.UnmuteGuests: _on_conference(
        "unmute-guests",
        "conference_unmute_guests",
        "unmuted all guests in",
        "conference/unmute_guests",
    ),
}
WAYS[typed.OpenDialModal].append(Way("options", options("dial_form"), me))

PERMISSION = {  # by hand, INTERFACE §5: the command words, `backup` and `restore`
    typed.Help: None,
    typed.WhoAmI: None,
    typed.Conferences: "conferences",
    typed.Participants: "participants",
    typed.OpenDialModal: "dial",
    typed.Dial: "dial",
    typed.Mute: "mute",
    typed.Unmute: "unmute",
    typed.Disconnect: "disconnect",
    typed.Admit: "admit",
    typed.Transfer: "transfer",
    OpenTransferForm: "transfer",
    typed.Lock: "lock",
    typed.Unlock: "unlock",
    typed.MuteGuests: "mute-guests",
    typed.UnmuteGuests: "unmute-guests",
    typed.End: "end",
    typed.Sync: "sync",
    typed.BackupNow: "backup",
    typed.BackupList: "backup",
    typed.BackupRestore: "restore",
}

CELLS = [
    pytest.param(command, way, role, id=f"{command.__name__}-{way.path}-{role.name}")
    for command, ways in WAYS.items()
    for way in ways
    for role in ROLES
]


def test_every_command_the_bot_runs_has_rows_in_the_matrix() -> None:
    assert set(WAYS) == set(EXECUTORS)
    assert set(PERMISSION) == set(EXECUTORS)


# --- running a cell ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch()


def denial(role: Role, permission: str, target: Target) -> str:
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
    if command is typed.BackupRestore:
        NEWEST_BACKUP.append(backup_files(simulator)[0]["filename"])
    simulator.control.reset_stats()

    response = way.send(bot, role.user, target)
    tally.matrix_cells += 1

    assert response.status_code == 200
    if allowed(role, permission):
        _saw_it_done(seen, simulator, way, response, target, role)
    else:
        assert permission is not None
        _saw_it_refused(seen, simulator, way, response, denial(role, permission, target))
        if role.user not in MAY[permission]:
            assert simulator.control.stats()["requests_total"] == 0


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
    else:
        denied = seen.private(said)
        assert denied.text.startswith(":no_entry: Not allowed:")
    assert simulator.control.stats()["commands"] == []
    assert [m for m in seen.everything() if not m.ephemeral] == []
    assert seen.state.calls("views.open") == []
