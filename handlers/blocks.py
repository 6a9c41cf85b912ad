"""Block Kit builders. Every button carries, as its value, the command line it runs (and the
listing to refresh afterwards), so a click goes through the same parse → authorize → act path
as a typed command, for the person who clicked.

Text from outside (names, typed text) goes into mrkdwn only through `section` and `note`, which
pass it through the boundary (`bot.slack.mrkdwn.as_mrkdwn`); headers, buttons and confirm dialogs
use plain_text, which Slack shows literally."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.pexip.models import Conference, Participant
from bot.pexip.resolve import Ambiguous
from bot.slack import limits
from bot.slack.limits import clip
from bot.slack.mrkdwn import Mrkdwn, as_mrkdwn, bold, join, plain, render, shorten
from bot.slack.replies import Message
from handlers.commands import ParticipantRef
from handlers.registry import Command, Offer, encode

MAX_ROWS = 20  # Slack allows 50 blocks a message; two per row, and room for header and notes
TRANSFER_LABEL = 200  # the name carried in a Transfer button's value, for the form's title


def offered(
    offer: Offer,
    command: Command,
    *,
    refresh: Command | None = None,
    confirm: tuple[str, Mrkdwn] | None = None,
) -> ButtonElement:
    """A declared button of `command` (`Offer`); a dialog offer asks `confirm` = (title,
    question) in Slack's own confirm dialog first, in red."""
    style = "danger" if offer.dialog else None
    dialog = confirm if offer.dialog else None
    return button(
        offer.label, offer.action_id, command, refresh=refresh, style=style, confirm=dialog
    )


def button(
    label: str,
    action_id: str,
    command: Command,
    *,
    refresh: Command | None = None,
    style: str | None = None,
    confirm: tuple[str, Mrkdwn] | None = None,
) -> ButtonElement:
    """A button that runs `command`; `confirm` = (title, question) adds Slack's confirm dialog."""
    dialog = None
    if confirm is not None:
        title, question = confirm
        dialog = ConfirmObject(
            title=clip(title, limits.CONFIRM_TITLE),
            text=PlainTextObject(text=clip(plain(question), limits.CONFIRM_TEXT)),  # literal
            confirm="Yes, go ahead",
            deny="Cancel",
            style="danger",
        )
    return ButtonElement(
        text=clip(label, limits.BUTTON_TEXT),
        action_id=action_id,
        value=encode(command, refresh),
        style=style,
        confirm=dialog,
    )


def choice(offer: Offer, commands: Sequence[tuple[str, Command]]) -> StaticSelectElement:
    """A declared choice of `offer` (e.g. the layouts): each option's value is the command it
    runs, read back like a button's value."""
    options = [
        Option(
            text=clip(label, limits.OPTION_TEXT), value=encode(command, limit=limits.OPTION_VALUE)
        )
        for label, command in commands[: limits.OPTIONS]
    ]
    return StaticSelectElement(
        placeholder=clip(offer.label, limits.OPTION_TEXT),
        action_id=offer.action_id,
        options=options,
    )


def message(text: str, blocks: Iterable[Block]) -> Message:
    # `Message` makes the text literal unless rendered, and shortens it (`bot.slack.mrkdwn`)
    return Message(text=text, blocks=[b.to_dict() for b in blocks])


def section(text: str) -> SectionBlock:
    """A mrkdwn section: `text` is rendered `Mrkdwn`, or outside text shown literally."""
    return SectionBlock(text=MarkdownTextObject(text=shorten(as_mrkdwn(text), limits.SECTION_TEXT)))


def note(text: str) -> ContextBlock:
    return ContextBlock(
        elements=[MarkdownTextObject(text=shorten(as_mrkdwn(text), limits.CONTEXT_TEXT))]
    )


# --- ambiguity ------------------------------------------------------------------------------


def with_participant(command: Command, participant_id: str) -> Command:
    return command.model_copy(update={"participant": ParticipantRef(query=participant_id)})


def pick_one(command: Command, ambiguous: Ambiguous) -> Message:
    """Several participants match: one button each (name, conference, protocol)."""
    shown = ambiguous.candidates[:MAX_ROWS]
    buttons = [
        button(
            f"{p.label} · {p.conference} · {p.protocol or '?'}",
            f"pick_{index}",
            with_participant(command, p.id),
        )
        for index, p in enumerate(shown)
    ]
    question = render(
        "{} participants match “{}”. Which one?", len(ambiguous.candidates), ambiguous.query
    )
    rows: list[Block] = [section(question)]
    rows += [ActionsBlock(elements=buttons[i : i + 5]) for i in range(0, len(buttons), 5)]
    if len(ambiguous.candidates) > len(shown):
        rows.append(note(f"{len(ambiguous.candidates) - len(shown)} more: type a longer name."))
    choices = join(", ", (render("{} ({})", p.label, p.conference) for p in shown))
    return message(render("{} {}", question, choices), rows)


# --- confirmation ---------------------------------------------------------------------------


def confirmation(question: Mrkdwn, command: Command, go_label: str) -> Message:
    """A private question with a danger button that runs `command` when clicked."""
    actions = ActionsBlock(
        elements=[
            button(go_label, "confirm", command, style="danger"),
            ButtonElement(text="Cancel", action_id="cancel", value="cancel"),
        ]
    )
    return message(question, [section(question), actions])


# --- listings -------------------------------------------------------------------------------


def unreadable_note(count: int, kind: str) -> Mrkdwn:
    """ "1 participant could not be shown": the node sent objects pexbot cannot read."""
    what = kind if count == 1 else f"{kind}s"
    return render(
        "{} {} could not be shown: the management node sent {} in a shape pexbot cannot read.",
        count,
        what,
        "it" if count == 1 else "them",
    )


def conferences_listing(
    conferences: Sequence[Conference],
    counts: dict[str, int],
    buttons: Callable[[Conference, int], Sequence[ButtonElement | StaticSelectElement]],
    unreadable: int = 0,
) -> Message:
    """Running conferences, each with `buttons(conference, participant count)`."""
    if not conferences:
        text = "No conference is running."
        if unreadable:
            text = unreadable_note(unreadable, "conference")
        return message(text, [section(text)])
    rows: list[Block] = [HeaderBlock(text="Running conferences")]
    lines: list[Mrkdwn] = []
    for conference in conferences[:MAX_ROWS]:
        count = counts.get(conference.name, 0)
        line = _conference_line(conference, count)
        lines.append(line)
        rows.append(section(line))
        actions = buttons(conference, count)
        if actions:
            rows.append(ActionsBlock(block_id=f"conf:{conference.id}", elements=list(actions)))
    if len(conferences) > MAX_ROWS:
        rows.append(note(f"…and {len(conferences) - MAX_ROWS} more."))
    if unreadable:
        lines.append(unreadable_note(unreadable, "conference"))
        rows.append(note(lines[-1]))
    return message(render("Running conferences:\n{}", join("\n", lines)), rows)


def _conference_line(conference: Conference, count: int) -> Mrkdwn:
    flags = [
        word
        for flag, word in (
            (not conference.is_started, "waiting for the host"),
            (conference.is_locked, "locked"),
            (conference.guests_muted, "guests muted"),
        )
        if flag
    ]
    people = f"{count} participant{'s' if count != 1 else ''}"
    extra = f" · {', '.join(flags)}" if flags else ""
    return render("{} · {}{}", bold(conference.name), people, extra)


def _end_question(name: str, count: int) -> Mrkdwn:
    people = f"{count} participant{'s' if count != 1 else ''}"
    return render("End {} for {}? Everyone in it is disconnected.", name, people)


def end_question(name: str, count: int) -> Mrkdwn:
    return _end_question(name, count)


def participants_listing(
    conference: Conference,
    participants: Sequence[Participant],
    buttons: Callable[[Participant], list[ButtonElement]],
    unreadable: int = 0,
) -> Message:
    """A conference's participants, each with `buttons(participant)`."""
    count = len(participants) + unreadable
    title = f"{conference.name}: {count} participant{'s' if count != 1 else ''}"
    flags = [
        word
        for flag, word in (
            (not conference.is_started, "waiting for the host"),
            (conference.is_locked, "locked"),
        )
        if flag
    ]
    if flags:
        title += f" ({', '.join(flags)})"
    rows: list[Block] = [HeaderBlock(text=clip(title, limits.HEADER_TEXT))]
    lines: list[Mrkdwn] = []
    for participant in participants[:MAX_ROWS]:
        line = participant_line(participant)
        lines.append(line)
        rows.append(section(line))
        actions = buttons(participant)
        if actions:
            rows.append(ActionsBlock(block_id=f"part:{participant.id}", elements=actions))
    if len(participants) > MAX_ROWS:
        rows.append(
            note(
                render(
                    "…and {} more: narrow with a name, e.g. `mute &lt;name&gt; in {}`.",
                    len(participants) - MAX_ROWS,
                    conference.name,
                )
            )
        )
    if unreadable:
        lines.append(unreadable_note(unreadable, "participant"))
        rows.append(note(lines[-1]))
    if not participants and not unreadable:
        rows.append(section("Nobody is in it."))
    rows.append(DividerBlock())
    return message(render("{}\n{}", title, join("\n", lines)), rows)


# Where a leg is, when not in the conference itself (facts §1, `service_type`).
PLACES = {
    "connecting": "connecting",
    "waiting_room": "waiting to be admitted",
    "ivr": "at the PIN entry",
    "two_stage_dialing": "in the Virtual Reception",
}
QUIET_PLACES = frozenset({"conference", "lecture", "gateway", ""})


def participant_state(participant: Participant) -> list[str]:
    """What a moderator needs to know: who muted them, where they are, what they do."""
    state = []
    if participant.is_muted:
        state.append("muted by a moderator")
    if participant.is_client_muted:
        state.append("muted themselves")
    if not state and participant.is_mute_supported and not participant.is_streaming:
        state.append("unmuted")
    place = participant.service_type
    if place in PLACES:
        state.append(PLACES[place])
    elif place not in QUIET_PLACES:
        state.append(place)  # a service type pexbot does not know: as it comes
    for flag, word in (
        (participant.is_on_hold, "on hold"),
        (participant.is_presenting, "presenting"),
        (participant.is_streaming, "streaming"),
        (participant.is_in_the_room and not participant.has_media, "no audio or video"),
    ):
        if flag:
            state.append(word)
    return state


def participant_line(participant: Participant) -> Mrkdwn:
    role = participant.role or "?"
    protocol = participant.protocol or "?"
    state = ", ".join(participant_state(participant))
    line = render("{} · {} · {}", bold(participant.label), role, protocol)
    return render("{} · {}", line, state) if state else line
