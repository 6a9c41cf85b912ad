"""Every Slack payload the bot builds stays inside Slack's limits whatever the names hold: the
longest names the node allows, in the widest characters (emoji: 2 UTF-16 units, and 12 once
JSON-escaped), stacked combining marks, right-to-left text, and more rows than a message holds.

Slack refuses the whole message when one field is too long (`invalid_blocks`), so one guest's
name must never cost a moderator the roster. Lengths are counted in UTF-16 units, as Slack does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.backup.notify import render_report
from bot.backup.report import BackupReport, StoredAt
from bot.pexip.models import Conference, Participant
from bot.pexip.resolve import Ambiguous
from bot.slack import limits
from bot.slack.limits import clip, units
from bot.slack.replies import Message
from handlers import blocks, modals
from handlers.commands import ParticipantRef
from handlers.conferences import End, conference_buttons
from handlers.participants import Mute, OpenTransferForm, Participants, Transfer, row_buttons
from handlers.registry import decode

EVERY_PERMISSION = {
    "participants",
    "mute",
    "unmute",
    "disconnect",
    "admit",
    "transfer",
    "lock",
    "unlock",
    "mute-guests",
    "unmute-guests",
    "end",
}
EMOJI = "\U0001f600"
ZALGO = "Z" + "\u0334\u0321\u0327\u031b\u0317" * 40
RTL = "\u202e\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627"
WIDEST = [
    EMOJI * 1000,  # a display name at the node's limit, every character astral
    EMOJI * 170,  # the reported case: the Transfer button's value
    ZALGO * 5,
    RTL * 100,
    "\"\\<>&'" * 200,  # characters JSON and Slack both escape
    "x" * 1000,
]

# Any text: astral emoji, combining marks, RTL and bidi controls, quotes, plain letters.
_LETTERS = [EMOJI, "\U0001f469\u200d\U0001f4bb", "\u0301", "\u0334", "\u05e9", "\u0645"]
_ALPHABET = st.sampled_from([*_LETTERS, "\u202e", '"', "\\", "<", "&", "a", " ", "\n"])
names = st.lists(_ALPHABET, min_size=0, max_size=1000).map("".join) | st.sampled_from(WIDEST)


def conference_rows(conference: Conference, count: int) -> list[Any]:
    return conference_buttons(conference, count, EVERY_PERMISSION)


def participant_rows(conference: Conference) -> Any:
    refresh = Participants(conference=conference.id)
    return lambda participant: row_buttons(participant, EVERY_PERMISSION, refresh)


def check(message: Message | dict[str, Any]) -> None:
    """Fails naming the first field over its limit."""
    payload = message if isinstance(message, dict) else _payload(message)
    assert units(payload.get("text") or "") <= limits.MESSAGE_TEXT
    found = payload.get("blocks") or []
    assert len(found) <= limits.BLOCKS, f"{len(found)} blocks"
    for block in found:
        _check_block(block)


def _payload(message: Message) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks or []}


def _check_block(block: dict[str, Any]) -> None:
    kind = block["type"]
    if kind == "section":
        if "text" in block:
            assert units(block["text"]["text"]) <= limits.SECTION_TEXT
        for field in block.get("fields", []):
            assert units(field["text"]) <= 2000
    elif kind == "header":
        assert units(block["text"]["text"]) <= limits.HEADER_TEXT
    elif kind == "context":
        assert len(block["elements"]) <= 10
        for element in block["elements"]:
            assert units(element["text"]) <= limits.CONTEXT_TEXT
    elif kind == "actions":
        assert len(block["elements"]) <= 25
        for element in block["elements"]:
            _check_element(element)
    elif kind == "input":
        assert units(block["label"]["text"]) <= 2000
        _check_element(block["element"])


def _check_element(element: dict[str, Any]) -> None:
    if element["type"] == "button":
        assert units(element["text"]["text"]) <= limits.BUTTON_TEXT
        assert units(element.get("value", "")) <= limits.BUTTON_VALUE, "button value"
        confirm = element.get("confirm")
        if confirm:
            assert units(confirm["title"]["text"]) <= limits.CONFIRM_TITLE
            assert units(confirm["text"]["text"]) <= limits.CONFIRM_TEXT
    for option in element.get("options", []):
        assert units(option["text"]["text"]) <= limits.OPTION_TEXT
        assert units(option["value"]) <= limits.OPTION_VALUE
    assert len(element.get("options", [])) <= limits.OPTIONS


def _conference(name: str, n: int = 0, **state: bool) -> Conference:
    return Conference(id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}{n}")), name=name, **state)


def _people(name: str, conference: str, count: int) -> list[Participant]:
    return [
        Participant(
            id=str(uuid.uuid4()),
            conference=conference,
            display_name=name,
            source_alias=name,
            protocol="SIP",
            service_type="waiting_room" if n % 2 else "conference",
            is_muted=bool(n % 3),
        )
        for n in range(count)
    ]


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@SETTINGS
@given(name=names, conference=names.map(lambda n: n[:250] or "c"), count=st.integers(0, 60))
def test_listings_fit(name: str, conference: str, count: int) -> None:
    running = [_conference(conference, n, is_locked=bool(n % 2)) for n in range(count)]
    check(blocks.conferences_listing(running, {conference: 10**6}, conference_rows))
    people = _people(name, conference, count)
    shown = _conference(conference)
    check(blocks.participants_listing(shown, people, participant_rows(shown)))


@SETTINGS
@given(name=names, typed=names, count=st.integers(2, 60))
def test_the_choices_for_an_ambiguous_name_fit(name: str, typed: str, count: int) -> None:
    candidates = _people(name, name[:250] or "c", count)
    for command in (
        Mute(participant=ParticipantRef(query=typed.strip() or "x")),
        Transfer(
            participant=ParticipantRef(query=typed.strip() or "x"), to_alias="a" * 250, role="chair"
        ),
    ):
        check(blocks.pick_one(command, Ambiguous(typed, candidates)))


@SETTINGS
@given(name=names)
def test_confirmations_forms_and_options_fit(name: str) -> None:
    conference = name[:250] or "c"
    question = blocks.end_question(conference, 10**6)
    check(blocks.confirmation(question, End(conference=str(uuid.uuid4())), f"End {name}"))
    check(blocks.message(name, [blocks.section(f"Name: {name}"), blocks.note(f"Name: {name}")]))
    check(modals.transfer_form(clip(name, blocks.TRANSFER_LABEL), "{}"))
    check(modals.dial_form([name[:250] or "l"] * 150, name[:250] or None, "{}"))


@SETTINGS
@given(name=names)
def test_backup_reports_fit(name: str) -> None:
    started = datetime(2026, 11, 30, 2, tzinfo=UTC)
    for outcome in ("success", "failure"):
        report = BackupReport(
            outcome=outcome,  # type: ignore[arg-type]
            trigger="manual",
            started_at=started,
            finished_at=started + timedelta(minutes=3),
            failed_step=None if outcome == "success" else "wait",
            reason=name,
            filename=name or "f",
            size=10**12,
            sha256="0" * 64,
            stored_at=StoredAt(name or "node"),
            requested_by="U0ADMIN01",
        )
        text, report_blocks = render_report(report)
        check({"text": text, "blocks": report_blocks})


def test_the_reported_case_a_170_emoji_name_keeps_its_transfer_button() -> None:
    [guest] = _people(EMOJI * 170, "VMR_1", 1)

    shown = _conference("VMR_1")
    listing = blocks.participants_listing(shown, [guest], participant_rows(shown))

    check(listing)
    transfer = [
        element
        for block in _payload(listing)["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "participant_transfer"
    ]
    assert len(transfer) == 1
    form = decode(transfer[0]["value"]).command
    assert isinstance(form, OpenTransferForm)
    assert form.participant_id == guest.id


def test_clipping_never_splits_a_character_and_marks_the_cut() -> None:
    assert clip(EMOJI * 100, 75) == EMOJI * 37 + "…"
    assert units(clip(EMOJI * 100, 75)) == 75
    assert clip("short", 75) == "short"
