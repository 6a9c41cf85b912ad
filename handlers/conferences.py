"""Commands on whole conferences: listings, lock / unlock, guests' audio, layout, end; template
sync."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from pydantic import Field
from slack_sdk.models.blocks import ButtonElement, StaticSelectElement

from bot.pexip import commands as pexip
from bot.pexip import configuration, status
from bot.pexip.models import Conference
from bot.slack.mrkdwn import Mrkdwn, code, join, render
from bot.slack.replies import Message
from handlers import arguments as read
from handlers import blocks
from handlers.arguments import Args, Problem, build
from handlers.commands import TEMPLATE_ID_MAX, ConferenceCommand
from handlers.context import Confirm, Context, Done, Listing
from handlers.grammar import UsageError
from handlers.participants import Participants
from handlers.registry import REGISTRY, Command, Offer, Said, Usage, command
from handlers.tokens import quote
from handlers.usage import did_you_mean, listed, show, usage_hint


class Conferences(Command):
    """`conferences`: list the running conferences."""


class Lock(ConferenceCommand):
    """`lock <conference>`."""


class Unlock(ConferenceCommand):
    """`unlock <conference>`."""


class MuteGuests(ConferenceCommand):
    """`mute-guests <conference>`."""


class UnmuteGuests(ConferenceCommand):
    """`unmute-guests <conference>`."""


class End(ConferenceCommand):
    """`end <conference>`: disconnect everyone (the app asks to confirm first)."""


LAYOUT_ALIASES = {"2x2": "4:0", "3x3": "9:0", "4x4": "16:0", "5x5": "25:0"}
"""Newer client docs' names for the grids (facts §5): typed, they send the classic name."""
LAYOUT_LABELS: dict[str, str] = {
    "1:0": "Main speaker only",
    "1:7": "One main + 7",
    "1:21": "One main + 21",
    "2:21": "Two mains + 21",
    "1:33": "One main + 33",
    "4:0": "2×2 grid",
    "9:0": "3×3 grid",
    "16:0": "4×4 grid",
    "25:0": "5×5 grid",
    "5:7": "Adaptive Composition",
}


class SetLayout(ConferenceCommand):
    """`layout <conference> <layout> [host=] [guest=] [text=]`: the vendor's
    `conference/transform_layout`."""

    layout: pexip.Layout
    host: pexip.Layout | None = None
    guest: pexip.Layout | None = None
    text: Annotated[str, Field(max_length=pexip.OVERLAY_TEXT_MAX)] | None = None

    def _arguments(self) -> tuple[str, ...]:
        pairs = (("host", self.host), ("guest", self.guest))
        options = tuple(f"{key}={value}" for key, value in pairs if value)
        text = () if self.text is None else (f"text={quote(self.text)}",)
        return (quote(self.conference), self.layout, *options, *text)


class Sync(Command):
    """`sync <template-id>`: run a VMR sync template."""

    template_id: Annotated[int, Field(ge=1, le=TEMPLATE_ID_MAX)]

    def _arguments(self) -> tuple[str, ...]:
        return (str(self.template_id),)


@command(
    Conferences,
    word="conferences",
    permission="conferences",
    kind="listing",
    usage=Usage("conferences", "List the running conferences.", "conferences"),
    grammar=read.no_arguments,
)
async def conferences(ctx: Context, command: Conferences) -> Listing:
    """Running conferences the viewer may see, with their participant counts."""
    pexip_client = ctx.services.pexip
    running = await status.conference_list(pexip_client)
    visible = [c for c in running.items if await ctx.may("conferences", c.name)]
    counts = Counter(p.conference for p in await status.participants(pexip_client))
    may = await ctx.allowed()

    def buttons(conference: Conference, count: int) -> list[ButtonElement | StaticSelectElement]:
        return conference_buttons(conference, count, may)

    listing = blocks.conferences_listing(visible, dict(counts), buttons, running.unreadable)
    return Listing(listing, "running conferences")


def conference_buttons(
    conference: Conference, count: int, may: set[str]
) -> list[ButtonElement | StaticSelectElement]:
    """What the viewer may do to a running conference, as buttons (in the listing's order)."""
    ref, refresh = conference.id, Conferences()
    lock = Unlock if conference.is_locked else Lock
    guests = UnmuteGuests if conference.guests_muted else MuteGuests
    question = ("End conference?", blocks.end_question(conference.name, count))
    offered: list[tuple[Command, Command | None, tuple[str, Mrkdwn] | None]] = [
        (Participants(conference=ref), None, None),
        (lock(conference=ref), refresh, None),
        (guests(conference=ref), refresh, None),
        (End(conference=ref), refresh, question),
    ]
    elements: list[ButtonElement | StaticSelectElement] = [
        blocks.offered(offer, typed, refresh=then, confirm=dialog)
        for typed, then, dialog in offered
        if typed.permission in may
        for offer in REGISTRY.of(typed).buttons
    ]
    if "layout" in may:
        choices = [
            (f"{name} · {label}", SetLayout(conference=ref, layout=name))
            for name, label in LAYOUT_LABELS.items()
        ]
        elements.append(blocks.choice(REGISTRY.offer(SetLayout, "conference_layout"), choices))
    return elements


_NODE_COMMAND: dict[type[ConferenceCommand], type[pexip.ConferenceCommand]] = {
    Lock: pexip.LockConference,
    Unlock: pexip.UnlockConference,
    MuteGuests: pexip.MuteGuests,
    UnmuteGuests: pexip.UnmuteGuests,
}


@command(
    UnmuteGuests,
    word="unmute-guests",
    permission="unmute-guests",
    usage=Usage(
        "unmute-guests <conference>", "Unmute every guest in a conference.", "unmute-guests VMR_1"
    ),
    grammar=read.one_conference,
    said=Said(done="unmuted all guests in {target}", attempt="unmute all guests in {target}"),
    buttons=(Offer("conference_unmute_guests", "Unmute guests"),),
)
@command(
    MuteGuests,
    word="mute-guests",
    permission="mute-guests",
    usage=Usage(
        "mute-guests <conference>", "Mute every guest in a conference.", "mute-guests VMR_1"
    ),
    grammar=read.one_conference,
    said=Said(done="muted all guests in {target}", attempt="mute all guests in {target}"),
    buttons=(Offer("conference_mute_guests", "Mute guests"),),
)
@command(
    Unlock,
    word="unlock",
    permission="unlock",
    usage=Usage(
        "unlock <conference>",
        "Unlock a conference: new participants join directly.",
        "unlock VMR_1",
    ),
    grammar=read.one_conference,
    said=Said(done="unlocked {target}: everyone waiting was let in", attempt="unlock {target}"),
    buttons=(Offer("conference_unlock", "Unlock"),),
)
@command(
    Lock,
    word="lock",
    permission="lock",
    usage=Usage(
        "lock <conference>",
        "Lock a conference: new participants wait until admitted.",
        "lock VMR_1",
    ),
    grammar=read.one_conference,
    said=Said(
        done="locked {target}: new participants wait to be admitted", attempt="lock {target}"
    ),
    buttons=(Offer("conference_lock", "Lock"),),
)
async def on_conference(ctx: Context, command: ConferenceCommand) -> Done:
    """lock / unlock / mute-guests / unmute-guests."""
    conference = await ctx.conference(command.conference)
    node_command = _NODE_COMMAND[type(command)](conference_id=conference.id)
    await ctx.send(node_command, ctx.attempt(command, conference.name), conference.name)
    return Done(Message(ctx.done(command, conference.name)), conference.name)


@command(
    End,
    word="end",
    permission="end",
    usage=Usage(
        "end <conference>",
        "End a conference, disconnecting everyone (asks you to confirm).",
        "end VMR_1",
    ),
    grammar=read.one_conference,
    said=Said(done="ended {target}", attempt="end {target}"),
    confirm=True,
    buttons=(Offer("conference_end", "End", dialog=True),),
)
async def end(ctx: Context, command: End) -> Done | Confirm:
    """Ask first (naming how many are disconnected); act only once confirmed."""
    conference = await ctx.conference(command.conference)
    if not ctx.confirmed:
        people = await ctx.participants_of(conference)
        count = len(people.items) + people.unreadable
        question = blocks.end_question(conference.name, count)
        go = End(conference=conference.id)
        return Confirm(blocks.confirmation(question, go, f"End {conference.name}"), conference.name)
    await ctx.send(
        pexip.DisconnectConference(conference_id=conference.id),
        ctx.attempt(command, conference.name),
        conference.name,
    )
    return Done(Message(ctx.done(command, conference.name)), conference.name)


def _layout_name(text: str, key: str) -> pexip.Layout:
    """One of the vendor's layout names (or a grid's newer name); anything else: a usage message
    that lists them all, before any node call."""
    typed = text.strip().lower().replace("×", "x")
    name = LAYOUT_ALIASES.get(typed, typed)
    for known in pexip.LAYOUTS:
        if known == name:
            return known  # type: ignore[return-value]  # a member of the Literal
    where = render("") if key == "layout" else render(" (for {})", code(f"{key}="))
    sentence = render(
        "{} is not a layout Pexip knows{}. Use one of {} ({}).{}",
        show(text),
        where,
        listed(pexip.LAYOUTS, "or"),
        render("2x2, 3x3, 4x4 and 5x5 also work"),
        did_you_mean(typed, pexip.LAYOUTS),
    )
    raise Problem(sentence, "layout")


def _read_layout(args: Args, model: type[SetLayout]) -> SetLayout:
    """`layout <conference> <layout> [host=] [guest=] [text=]`."""
    if len(args.positional) != 2:
        sentence = render(
            "`layout` needs {} and then a layout name, e.g. `1:7`; put a name with spaces "
            "in quotes.",
            read.CONFERENCE,
        )
        raise Problem(sentence, "layout")
    conference = read.value(args.positional[0], "layout", "conference")
    layout = _layout_name(args.positional[1].text, "layout")
    host, guest = (
        None if args.options.get(key) is None else _layout_name(args.options[key], key)
        for key in ("host", "guest")
    )
    text = args.options.get("text")
    if text is not None and len(text) > pexip.OVERLAY_TEXT_MAX:
        sentence = render(
            "The overlay text (`text=`) may have at most {} characters; that one has {}.",
            pexip.OVERLAY_TEXT_MAX,
            len(text),
        )
        raise Problem(sentence, "layout")
    fields = {"conference": conference, "layout": layout, "host": host, "guest": guest}
    return build(model, "layout", **fields, text=text)


@command(
    SetLayout,
    word="layout",
    permission="layout",
    usage=Usage(
        'layout <conference> <layout> [host=<layout>] [guest=<layout>] [text="<overlay text>"]',
        "Change a conference's layout (e.g. 1:7, 4:0, 5:7), optionally with overlay text.",
        'layout VMR_1 1:7 text="Board meeting"',
    ),
    grammar=_read_layout,
    options=("host", "guest", "text"),
    said=Said(done="changed the layout of {target}", attempt="change the layout of {target}"),
    buttons=(Offer("conference_layout", "Layout"),),
)
async def set_layout(ctx: Context, command: SetLayout) -> Done:
    """A flat `transform_layout` body (facts §5)."""
    if command.text is not None and len(command.text) > pexip.OVERLAY_TEXT_MAX:
        hint = usage_hint("layout", ctx.services.slash)  # a model made outside the parser
        raise UsageError(render("The overlay text is too long. {}", hint), "layout")
    conference = await ctx.conference(command.conference)
    parts = [
        render("{} {}", who, name)
        for who, name in (("hosts", command.host), ("guests", command.guest))
        if name
    ]
    if command.text is not None:
        parts.append(render("overlay text “{}”", command.text))
    extra = render(" ({})", join(", ", parts)) if parts else render("")
    target = render("{} to {}{}", conference.name, command.layout, extra)
    await ctx.send(
        pexip.TransformLayout(
            conference_id=conference.id,
            layout=command.layout,
            host_layout=command.host,
            guest_layout=command.guest,
            free_form_overlay_text=command.text,
        ),
        ctx.attempt(command, target),
        conference.name,
    )
    return Done(Message(ctx.done(command, target)), conference.name, detail=command.layout)


def _read_sync(args: Args, model: type[Sync]) -> Sync:
    token = read.single(args, "the id of a VMR sync template")
    digits = token.text.strip()
    number = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 10 else 0
    if not 1 <= number <= TEMPLATE_ID_MAX:
        sentence = render(
            "The template id must be a whole number such as 3, not {}.", show(token.text)
        )
        raise Problem(sentence, "sync")
    return build(model, "sync", template_id=number)


@command(
    Sync,
    word="sync",
    permission="sync",
    usage=Usage("sync <template-id>", "Run the VMR sync template with this id.", "sync 3"),
    grammar=_read_sync,
    said=Said(done="synced template {target}", attempt="sync template {target}"),
)
async def sync(ctx: Context, command: Sync) -> Done:
    template = str(command.template_id)
    target = f"template {template}"
    await ctx.send(
        pexip.SyncTemplate(conference_sync_template_id=template),
        ctx.attempt(command, template),
        target,
    )
    return Done(Message(ctx.done(command, template)), target)


async def conference_choices(ctx: Context, typed: str) -> list[tuple[str, str]]:
    """(label, alias) pairs for a form's conference picker: the configured aliases of the
    conferences the person's grant covers (a scoped moderator sees no other)."""
    services = await configuration.configured_conferences(ctx.services.pexip)
    ctx.services.conference_aliases.replace(services)
    visible = await ctx.visible()
    wanted = typed.strip().casefold()
    choices = [
        (f"{alias} ({service.name})", alias)
        for service in services
        if visible is None or visible(service.name)
        for alias in service.alias_names
        if wanted in alias.casefold() or wanted in service.name.casefold()
    ]
    return choices[:100]
