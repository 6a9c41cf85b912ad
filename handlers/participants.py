"""Commands on participants: the listing, mute, unmute, disconnect, admit, transfer, role."""

from __future__ import annotations

from pydantic import Field
from slack_sdk.models.blocks import ButtonElement

from bot import messages
from bot.pexip import commands as pexip
from bot.pexip.models import Participant
from bot.slack.limits import clip
from bot.slack.mrkdwn import Mrkdwn, render
from bot.slack.replies import Message
from handlers import arguments as read
from handlers import blocks, modals
from handlers.arguments import Args, Problem, build
from handlers.commands import ROLES, ParticipantCommand, ParticipantRef, Role, Value
from handlers.context import Context, Done, Listing, Shown, participant_target
from handlers.grammar import UsageError
from handlers.registry import REGISTRY, Command, Offer, Said, Usage, command
from handlers.tokens import quote
from handlers.usage import usage_hint

__all__ = ["Participant"]


class Participants(Command):
    """`participants <conference>`: list a conference's participants."""

    conference: Value

    def _arguments(self) -> tuple[str, ...]:
        return (quote(self.conference),)


class Mute(ParticipantCommand):
    """`mute <participant>`."""


class Unmute(ParticipantCommand):
    """`unmute <participant>`."""


class Disconnect(ParticipantCommand):
    """`disconnect <participant>`."""


class Admit(ParticipantCommand):
    """`admit <participant>`: let in a participant who is waiting."""


class Transfer(Command):
    """`transfer <participant> to <conference-alias> [role=]`; `role` None sends none."""

    participant: ParticipantRef
    to_alias: Value
    role: Role | None = None

    def _arguments(self) -> tuple[str, ...]:
        role = () if self.role is None else (f"role={self.role}",)
        return (self.participant.to_text(), "to", quote(self.to_alias), *role)


class SetRole(Command):
    """`role <participant> chair|guest`: make a participant a host (chair) or a guest."""

    participant: ParticipantRef
    role: Role

    def _arguments(self) -> tuple[str, ...]:
        return (self.participant.to_text(), self.role)


class OpenTransferForm(Command):
    """The Transfer button: a form asks where to; not typed, so not in the grammar."""

    participant_id: str
    label: str = Field(max_length=blocks.TRANSFER_LABEL)


@command(
    Participants,
    word="participants",
    permission="participants",
    kind="listing",
    usage=Usage(
        "participants <conference>",
        "List the participants of a conference.",
        "participants VMR_1",
    ),
    grammar=read.one_conference,
    buttons=(Offer("conference_participants", "Participants"),),
)
async def listing(ctx: Context, command: Participants) -> Listing:
    conference = await ctx.conference(command.conference)
    people = await ctx.participants_of(conference)
    may = await ctx.allowed(conference.name)
    refresh = Participants(conference=conference.id)

    def buttons(participant: Participant) -> list[ButtonElement]:
        return row_buttons(participant, may, refresh)

    shown = blocks.participants_listing(conference, people.items, buttons, people.unreadable)
    return Listing(shown, conference.name)


def row_buttons(
    participant: Participant, may: set[str] | frozenset[str], refresh: Command | None
) -> list[ButtonElement]:
    """Only what the viewer may do and the node says this leg supports."""
    ref = ParticipantRef(query=participant.id)
    who = render("Disconnect {} from {}?", participant.label, participant.conference)
    offered: list[tuple[Command, tuple[str, Mrkdwn] | None]] = []
    if participant.is_mute_supported:
        offered.append(((Unmute if participant.is_muted else Mute)(participant=ref), None))
    if participant.is_waiting:
        offered.append((Admit(participant=ref), None))
    if participant.role in ROLES and not participant.is_streaming:
        other: Role = "guest" if participant.role == "chair" else "chair"
        offered.append((SetRole(participant=ref, role=other), None))
    if participant.is_disconnect_supported:
        offered.append((Disconnect(participant=ref), ("Disconnect?", who)))
    if participant.is_transfer_supported:
        label = clip(participant.label, blocks.TRANSFER_LABEL)
        offered.append((OpenTransferForm(participant_id=participant.id, label=label), None))
    return [
        blocks.offered(offer, typed, refresh=refresh, confirm=dialog)
        for typed, dialog in offered
        if typed.permission in may
        for offer in _offers(typed)
    ]


def _offers(typed: Command) -> tuple[Offer, ...]:
    """The declared buttons of a command; `role` has one per role (Make host, Make guest)."""
    if isinstance(typed, SetRole):
        return (REGISTRY.offer(SetRole, ROLE_BUTTONS[typed.role]),)
    return REGISTRY.of(typed).buttons


ROLE_BUTTONS: dict[Role, str] = {
    "chair": "participant_make_host",
    "guest": "participant_make_guest",
}
ROLE_WORDS: dict[Role, str] = {"chair": "a host (chair)", "guest": "a guest"}


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
    target = participant_target(participant)
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
            raise UsageError(sentence, word, target)
        return
    flag, done = _SUPPORT[word]
    if not getattr(participant, flag):
        kind = "a stream or recording" if participant.is_streaming else "this call"
        sentence = render(
            "{} cannot be {}: the management node says {} does not support it.", who, done, kind
        )
        raise UsageError(sentence, word, target)


@command(
    Admit,
    word="admit",
    permission="admit",
    usage=Usage(
        "admit <participant>", "Let in a participant who is waiting to join.", 'admit "Carol Jones"'
    ),
    grammar=read.one_participant,
    said=Said(done="admitted {target}", attempt="admit {target}"),
    buttons=(Offer("participant_admit", "Admit"),),
)
@command(
    Disconnect,
    word="disconnect",
    permission="disconnect",
    usage=Usage(
        "disconnect <participant>",
        "Disconnect a participant from their conference.",
        "disconnect Bob in VMR_1",
    ),
    grammar=read.one_participant,
    said=Said(done="disconnected {target}", attempt="disconnect {target}"),
    buttons=(Offer("participant_disconnect", "Disconnect", dialog=True),),
)
@command(
    Unmute,
    word="unmute",
    permission="unmute",
    usage=Usage("unmute <participant>", "Unmute a participant.", "unmute Alice"),
    grammar=read.one_participant,
    said=Said(done="unmuted {target}", attempt="unmute {target}"),
    buttons=(Offer("participant_unmute", "Unmute"),),
)
@command(
    Mute,
    word="mute",
    permission="mute",
    usage=Usage("mute <participant>", "Mute a participant.", 'mute "Alice Parkes"'),
    grammar=read.one_participant,
    said=Said(done="muted {target}", attempt="mute {target}"),
    buttons=(Offer("participant_mute", "Mute"),),
)
async def on_participant(ctx: Context, command: ParticipantCommand) -> Done:
    """mute / unmute / disconnect / admit: resolve within the grant, check that the leg
    supports it, send."""
    participant = await ctx.participant(command.participant)
    refuse_unsupported(command.word, participant)
    node_command = _NODE_COMMAND[type(command)](participant_id=participant.id)
    whom = messages.whom(participant.label, participant.conference)
    target = participant_target(participant)
    await ctx.services.intents.note(command.word, participant.id, ctx.interaction.user_id)
    await ctx.send(node_command, ctx.attempt(command, whom), target)
    return Done(Message(ctx.done(command, whom)), target)


def _read_transfer(args: Args, model: type[Transfer]) -> Transfer:
    cut = read.last_keyword(args.positional, "to")
    if cut is None:
        sentence = render("`transfer` needs `to` and the alias of the conference to move them to.")
        raise Problem(sentence, "transfer")
    target = args.positional[cut + 1 :]
    if any(token.is_keyword("in") for token in target):
        sentence = render(
            "Put `in &lt;conference&gt;` before `to`: it says where the participant is now."
        )
        raise Problem(sentence, "transfer")
    participant = read.participant("transfer", args.positional[:cut])
    to_alias = read.after_keyword("transfer", target, "to", "conference alias")
    role = args.options.get("role")
    role = None if role is None else read.choice("transfer", "role", role, ROLES)
    return build(model, "transfer", participant=participant, to_alias=to_alias, role=role)


@command(
    Transfer,
    word="transfer",
    permission="transfer",
    usage=Usage(
        "transfer <participant> to <conference-alias> [role=chair|guest]",
        "Move a participant to another conference.",
        "transfer Bob in VMR_1 to vmr2@meet.example.com role=chair",
    ),
    grammar=_read_transfer,
    options=("role",),
    said=Said(done="transferred {target}", attempt="transfer {target}"),
)
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
    participant = await ctx.participant(command.participant)
    refuse_unsupported("transfer", participant)
    source = participant_target(participant)
    service = await ctx.service_for_alias(command.to_alias, source)
    audit_target = f"{source} → {service.name}"
    role = f" as {command.role}" if command.role else ""
    whom = messages.whom(participant.label, participant.conference)
    target = render("{} to {} ({}){}", whom, service.name, command.to_alias, role)
    await ctx.send(
        pexip.TransferParticipant(
            participant_id=participant.id, conference_alias=command.to_alias, role=command.role
        ),
        ctx.attempt(command, target),
        audit_target,
    )
    return Done(Message(ctx.done(command, target)), audit_target)


@command(
    OpenTransferForm,
    word="transfer",
    permission="transfer",
    kind="form",
    key="transfer form",
    buttons=(Offer("participant_transfer", "Transfer"),),
)
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


def _read_role(args: Args, model: type[SetRole]) -> SetRole:
    """`role <participant> [in <conference>] chair|guest`: the role is the last word (`host`
    is taken as `chair`, the word the node uses)."""
    if len(args.positional) < 2:
        sentence = render("`role` needs a participant and then `chair` or `guest`.")
        raise Problem(sentence, "role")
    *who, last = args.positional
    typed = last.text.strip().lower()
    role = read.choice("role", "role", "chair" if typed == "host" else typed, ROLES)
    participant = read.participant("role", who)
    return build(model, "role", participant=participant, role=role)


@command(
    SetRole,
    word="role",
    permission="role",
    usage=Usage(
        "role <participant> chair|guest",
        "Make a participant a host (chair) or a guest.",
        'role "Alice Parkes" chair',
    ),
    grammar=_read_role,
    said=Said(done="made {target}", attempt="make {target}"),
    buttons=(
        Offer("participant_make_host", "Make host"),
        Offer("participant_make_guest", "Make guest"),
    ),
)
async def set_role(ctx: Context, command: SetRole) -> Done:
    """Already in that role: said privately, no node call."""
    participant = await ctx.participant(command.participant)
    whom = messages.whom(participant.label, participant.conference)
    target = participant_target(participant)
    if participant.role == command.role:
        sentence = render("{} is already {}.", whom, ROLE_WORDS[command.role])
        raise UsageError(sentence, "role", target)
    if participant.is_streaming:
        sentence = render("{} is a stream or recording: it has no host or guest role.", whom)
        raise UsageError(sentence, "role", target)
    became = render("{} {}", whom, ROLE_WORDS[command.role])
    await ctx.send(
        pexip.SetRole(participant_id=participant.id, role=command.role),
        ctx.attempt(command, became),
        target,
    )
    return Done(Message(ctx.done(command, became)), target, detail=command.role)
