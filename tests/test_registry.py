"""One declaration per command (`handlers.registry`): every part is there, everything else is
read from it, and a button carries the typed command itself, within Slack's limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.auth.policy import ALWAYS_ALLOWED, PERMISSIONS
from bot.backup.notify import RETRY_ACTION_ID, RETRY_VALUE
from bot.slack.limits import BUTTON_VALUE, units
from handlers import blocks
from handlers.backups import BackupNow, BackupRestore
from handlers.commands import ParticipantRef
from handlers.conferences import End, Lock, SetLayout, conference_buttons
from handlers.grammar import parse
from handlers.participants import (
    Mute,
    OpenTransferForm,
    Participants,
    SetRole,
    Transfer,
    row_buttons,
)
from handlers.registry import (
    REGISTRY,
    Command,
    Offer,
    Registry,
    Said,
    Spec,
    StaleButton,
    Usage,
    check,
    decode,
    encode,
)
from handlers.usage import usage_table

SPECS = list(REGISTRY)


async def _nothing(ctx: Any, command: Any) -> None:
    return None


def test_no_declared_command_lacks_a_part() -> None:
    assert check(REGISTRY, ALWAYS_ALLOWED) == []


class Orphan(Command):
    """A command under test."""


def _spec(**changes: Any) -> Spec:
    fields: dict[str, Any] = {
        "model": Orphan,
        "key": "orphan",
        "word": "orphan",
        "permission": "mute",
        "kind": "action",
        "execute": _nothing,
        "usage": Usage("orphan <x>", "Do it.", "orphan 1"),
        "grammar": lambda args, model: model(),
        "said": Said("did {target}", "do {target}"),
    }
    return Spec(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"permission": None}, "no permission"),
        ({"usage": None}, "no usage line or button"),
        ({"grammar": None}, "no parser for the word 'orphan'"),
        ({"usage": Usage("orphan <x>", "", "orphan 1")}, "no summary on the first form"),
        ({"usage": Usage("orphan <x>", "Do it.")}, "no example on the first form"),
        ({"said": None}, "no done / attempt wording"),
        ({"usage": None, "buttons": (Offer("orphan_go", ""),)}, "no label for the button"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_declaration_that_lacks_a_part_is_reported(changes: dict[str, Any], missing: str) -> None:
    registry = Registry()
    registry.add(_spec(**changes))

    [problem] = check(registry, ALWAYS_ALLOWED)
    assert problem.startswith(f"Orphan (orphan): {missing}")


def test_a_command_declared_twice_or_a_button_offering_two_is_refused() -> None:
    registry = Registry()
    registry.add(_spec(buttons=(Offer("orphan_go", "Go"),)))
    with pytest.raises(ValueError, match="declared twice"):
        registry.add(_spec())

    class Other(Command):
        """Another."""

    with pytest.raises(ValueError, match="offers two commands"):
        registry.add(_spec(model=Other, key="other", buttons=(Offer("orphan_go", "Go"),)))


def test_grammar_help_permissions_and_wording_are_read_from_the_declarations() -> None:
    typed = [spec for spec in SPECS if spec.usage is not None]
    table = usage_table()
    assert set(table) == {spec.word for spec in typed}
    for spec in typed:
        assert spec.usage is not None and spec.usage.form in table[spec.word].forms
    assert REGISTRY.permissions() == PERMISSIONS  # the policy file's names, in its order
    assert {spec.permission for spec in SPECS} - {None} == set(PERMISSIONS)
    for spec in SPECS:
        if spec.usage is not None and spec.usage.example:
            assert type(parse(spec.usage.example)).word == spec.word


def test_every_button_action_id_runs_the_command_that_declares_it() -> None:
    for spec in SPECS:
        for offer in spec.buttons:
            assert REGISTRY.offered_by(offer.action_id) is spec
    assert REGISTRY.offered_by(RETRY_ACTION_ID) is REGISTRY.of(BackupNow)


# --- button values -------------------------------------------------------------------------------

UUID = "8d4f0a5e-3b2c-4c1d-9e8f-7a6b5c4d3e2f"
ALIAS_MAX = 250  # the node's longest alias, name or file name
WORST = '"\\' * (ALIAS_MAX // 2)  # each character doubles when written as JSON
EMOJI = "😀" * ALIAS_MAX  # two UTF-16 units each, as Slack counts


def _ref(query: str = UUID) -> ParticipantRef:
    return ParticipantRef(query=query)


LONGEST: list[Command] = [
    Mute(participant=_ref()),
    Transfer(participant=_ref(), to_alias=WORST, role="chair"),
    Transfer(participant=_ref(), to_alias=EMOJI, role="chair"),
    OpenTransferForm(participant_id=UUID, label=blocks.clip(WORST * 4, blocks.TRANSFER_LABEL)),
    OpenTransferForm(participant_id=UUID, label=blocks.clip(EMOJI, blocks.TRANSFER_LABEL)),
    SetRole(participant=_ref(), role="guest"),
    End(conference=UUID),
    SetLayout(conference=UUID, layout="25:0", host="16:0", guest="1:33"),
    BackupRestore(filename=WORST),
    BackupRestore(filename=EMOJI),
]


def carried_by_a_button(spec: Spec) -> bool:
    """Its own button, a confirmation's button, or a pick among participants a name matched."""
    return bool(spec.buttons) or spec.confirm or "participant" in spec.model.model_fields


def test_the_longest_cases_cover_every_command_a_button_can_carry() -> None:
    """Each such command has the fields of one measured below (`lock` those of `end`...)."""
    measured = {frozenset(type(command).model_fields) for command in LONGEST}
    for spec in SPECS:
        if carried_by_a_button(spec):
            assert frozenset(spec.model.model_fields) in measured | {frozenset()}, spec.key


@pytest.mark.parametrize("command", LONGEST, ids=lambda command: command.key)
def test_the_longest_commands_fit_a_button_with_their_listing(command: Command) -> None:
    value = encode(command, Participants(conference=WORST))

    assert units(value) <= BUTTON_VALUE
    clicked = decode(value)
    assert clicked.command == command  # validated back into the same model
    assert clicked.refresh == Participants(conference=WORST)


def test_a_refresh_that_does_not_fit_is_dropped_and_the_command_kept() -> None:
    huge = Participants(conference="x" * BUTTON_VALUE)

    clicked = decode(encode(Mute(participant=_ref()), huge))

    assert clicked == decode(encode(Mute(participant=_ref())))
    assert clicked.refresh is None


def test_a_command_that_cannot_fit_is_a_bug_not_a_broken_message() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode(BackupRestore(filename="x" * BUTTON_VALUE))


def test_a_button_value_is_compact_json_of_the_model_without_defaults() -> None:
    assert json.loads(encode(Lock(conference=UUID))) == {"c": "lock", "a": {"conference": UUID}}
    assert json.loads(encode(Transfer(participant=_ref(), to_alias="vmr2@x"))) == {
        "c": "transfer",
        "a": {"participant": {"query": UUID}, "to_alias": "vmr2@x"},
    }
    assert " " not in encode(Lock(conference="VMR_1"))


def test_the_backup_reports_retry_button_carries_backup_now() -> None:
    assert decode(RETRY_VALUE).command == BackupNow()


@pytest.mark.parametrize(
    "value",
    [
        "mute 8d4f0a5e",  # a command's text, as buttons of older versions carried
        json.dumps({"c": "mute 8d4f0a5e"}),
        json.dumps({"c": "mute", "a": {"participant": "Bob"}}),
        json.dumps({"c": "lock", "a": {"conference": "VMR_1", "force": True}}),
        json.dumps({"c": "sync", "a": {"template_id": 0}}),
        json.dumps({"c": "lock", "a": {"conference": "VMR_1"}, "r": {"c": "nothing"}}),
        json.dumps([1, 2]),
    ],
)
def test_a_value_no_command_validates_is_a_stale_button(value: str) -> None:
    with pytest.raises(StaleButton):
        decode(value)


def test_listing_buttons_carry_typed_commands_for_what_the_viewer_may_do(
    conference: Any, participant: Any
) -> None:
    everything = set(PERMISSIONS)
    refresh = Participants(conference=conference.id)
    rows = [
        *row_buttons(participant, everything, refresh),
        *conference_buttons(conference, 3, everything),
    ]
    for element in rows:
        values = (
            [o.value for o in element.options]
            if element.type == "static_select"
            else [element.value]
        )
        for value in values:
            clicked = decode(value)
            assert REGISTRY.offered_by(element.action_id) is REGISTRY.of(clicked.command)
    assert [element.action_id for element in row_buttons(participant, {"mute"}, refresh)] == [
        "participant_mute"
    ]


@pytest.fixture
def conference() -> Any:
    from bot.pexip.models import Conference

    return Conference.model_validate(
        {"id": UUID, "name": "VMR_1", "is_locked": False, "guests_muted": False, "is_started": True}
    )


@pytest.fixture
def participant() -> Any:
    from bot.pexip.models import Participant

    return Participant.model_validate(
        {
            "id": UUID,
            "display_name": "Alice Parkes",
            "conference": "VMR_1",
            "service_type": "conference",
            "role": "guest",
            "is_mute_supported": True,
            "is_disconnect_supported": True,
            "is_transfer_supported": True,
        }
    )
