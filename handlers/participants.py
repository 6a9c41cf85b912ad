"""Commands on one participant: mute, unmute, disconnect, admit, transfer."""

from __future__ import annotations

from typing import ClassVar

from bot import messages
from bot.mrkdwn import render
from bot.pexip import commands as pexip
from bot.pexip.models import Participant
from handlers import modals
from handlers.commands import (
    Admit,
    BaseCommand,
    Disconnect,
    Mute,
    ParticipantCommand,
    Transfer,
    Unmute,
)
from handlers.context import Context, Done, Shown
from handlers.grammar import UsageError
from handlers.replies import Message
from handlers.usage import usage_hint


class OpenTransferForm(BaseCommand):
    """The Transfer button: a form asks where to; not typed, so not in the grammar."""

    word: ClassVar[str] = "transfer"
    permission: ClassVar[str | None] = "transfer"
    opens_form: ClassVar[bool] = True

    participant_id: str
    label: str


MAX_ALIAS = 250  # the node's limit on a conference alias

_NODE_COMMAND: dict[type[ParticipantCommand], type[pexip.ParticipantCommand]] = {
    Mute: pexip.MuteParticipant,
    Unmute: pexip.UnmuteParticipant,
    Disconnect: pexip.DisconnectParticipant,
    Admit: pexip.UnlockParticipant,
}


# What the node says a leg supports, per command word: (flag, "cannot be <done>").
_SUPPORT = {
    "mute": ("is_mute_supported", "muted"),
    "unmute": ("is_mute_supported", "unmuted"),
    "disconnect": ("is_disconnect_supported", "disconnected"),
    "transfer": ("is_transfer_supported", "transferred"),
}


def refuse_unsupported(word: str, participant: Participant) -> None:
    """Refuse, privately and before any node call, what the node says this leg cannot do;
    `admit` only for someone waiting to be admitted."""
    who = messages.whom(participant.label, participant.conference)
    if word == "admit":
        if not participant.is_waiting:
            if participant.is_in_the_room:
                where = render("already in {}", participant.conference)
            elif participant.is_connecting:
                where = render("still connecting")
            else:
                kind = participant.service_type or "unknown"
                where = render("not in the waiting room ({})", kind)
            sentence = render("{} is not waiting to be admitted: they are {}.", who, where)
            raise UsageError(sentence, word)
        return
    flag, done = _SUPPORT[word]
    if not getattr(participant, flag):
        kind = "a stream or recording" if participant.is_streaming else "this call"
        sentence = render(
            "{} cannot be {}: the management node says {} does not support it.", who, done, kind
        )
        raise UsageError(sentence, word)


async def on_participant(ctx: Context, command: ParticipantCommand) -> Done:
    """mute / unmute / disconnect / admit: resolve, check the participant's conference and
    that the leg supports it, send."""
    participant = await ctx.participant(command.participant, command.word)
    refuse_unsupported(command.word, participant)
    node_command = _NODE_COMMAND[type(command)](participant_id=participant.id)
    whom = messages.whom(participant.label, participant.conference)
    await ctx.send(node_command, messages.attempted(command.word, whom))
    return Done(Message(messages.done(ctx.user, command.word, whom)), ctx.target)


async def transfer(ctx: Context, command: Transfer) -> Done:
    """Needs `transfer` on the participant's conference and on the target conference."""
    if len(command.to_alias) > MAX_ALIAS:  # no alias is longer: a picker button could not hold it
        sentence = render(
            "A conference alias has at most {} characters; that one has {}. {}",
            MAX_ALIAS,
            len(command.to_alias),
            usage_hint("transfer", ctx.services.slash),
        )
        raise UsageError(sentence, "transfer")
    participant = await ctx.participant(command.participant, "transfer")
    refuse_unsupported("transfer", participant)
    source = ctx.target
    service = await ctx.service_for_alias(command.to_alias, "transfer")
    ctx.target = f"{source} → {service.name}"
    role = f" as {command.role}" if command.role else ""
    whom = messages.whom(participant.label, participant.conference)
    target = render("{} to {} ({}){}", whom, service.name, command.to_alias, role)
    await ctx.send(
        pexip.TransferParticipant(
            participant_id=participant.id, conference_alias=command.to_alias, role=command.role
        ),
        messages.attempted("transfer", target),
    )
    return Done(Message(messages.done(ctx.user, "transfer", target)), ctx.target)


async def open_transfer_form(ctx: Context, command: OpenTransferForm) -> Shown:
    if not command.participant_id.strip():  # a Transfer button that names nobody
        hint = usage_hint("transfer", ctx.services.slash)
        raise UsageError(
            render("This Transfer button does not say whom to move. {}", hint), "transfer"
        )
    trigger = ctx.interaction.trigger_id
    if trigger is None:
        return Shown("transfer form")
    meta = modals.metadata(ctx.interaction, participant=command.participant_id)
    await ctx.replies.client.views_open(
        trigger_id=trigger, view=modals.transfer_form(command.label, meta)
    )
    return Shown(command.label)
