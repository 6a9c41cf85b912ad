"""Commands on whole conferences: listings, lock / unlock, guests' audio, end; template sync."""

from __future__ import annotations

from collections import Counter

from bot import messages
from bot.permissions import PERMISSIONS
from bot.pexip import commands as pexip
from bot.pexip import configuration, status
from bot.pexip.models import Conference
from handlers import blocks
from handlers.commands import (
    ConferenceCommand,
    Conferences,
    End,
    Lock,
    MuteGuests,
    Participants,
    Sync,
    Unlock,
    UnmuteGuests,
)
from handlers.context import Confirm, Context, Denied, Done, Listing
from handlers.replies import Message

_NODE_COMMAND: dict[type[ConferenceCommand], type[pexip.ConferenceCommand]] = {
    Lock: pexip.LockConference,
    Unlock: pexip.UnlockConference,
    MuteGuests: pexip.MuteGuests,
    UnmuteGuests: pexip.UnmuteGuests,
}


async def _may(ctx: Context, conference: str | None = None) -> set[str]:
    """The permissions the viewer holds (on `conference`), to show only buttons they can use."""
    allowed = set()
    for permission in PERMISSIONS:
        try:
            await ctx.require(permission, conference)
        except Denied:
            continue
        allowed.add(permission)
    return allowed


async def conferences(ctx: Context, command: Conferences) -> Listing:
    """Running conferences the viewer may see, with their participant counts."""
    pexip_client = ctx.services.pexip
    running = await status.conference_list(pexip_client)
    visible = [c for c in running.items if await _visible(ctx, c)]
    counts = Counter(p.conference for p in await status.participants(pexip_client))
    may = await _may(ctx)
    listing = blocks.conferences_listing(visible, dict(counts), may, running.unreadable)
    return Listing(listing, "running conferences")


async def _visible(ctx: Context, conference: Conference) -> bool:
    try:
        await ctx.require("conferences", conference.name)
    except Denied:
        return False
    return True


async def participants(ctx: Context, command: Participants) -> Listing:
    conference = await ctx.conference(command.conference, "participants")
    people = await ctx.participants_of(conference)
    may = await _may(ctx, conference.name)
    listing = blocks.participants_listing(conference, people.items, may, people.unreadable)
    return Listing(listing, conference.name)


async def on_conference(ctx: Context, command: ConferenceCommand) -> Done:
    """lock / unlock / mute-guests / unmute-guests."""
    conference = await ctx.conference(command.conference, command.word)
    node_command = _NODE_COMMAND[type(command)](conference_id=conference.id)
    await ctx.send(node_command, messages.attempted(command.word, conference.name))
    return Done(Message(messages.done(ctx.user, command.word, conference.name)), conference.name)


async def end(ctx: Context, command: End) -> Done | Confirm:
    """Ask first (naming how many are disconnected); act only once confirmed."""
    conference = await ctx.conference(command.conference, "end")
    if not ctx.confirmed:
        people = await ctx.participants_of(conference)
        count = len(people.items) + people.unreadable
        question = blocks.end_question(conference.name, count)
        confirm_text = End(conference=conference.id).to_text()
        return Confirm(
            blocks.confirmation(question, confirm_text, f"End {conference.name}"), conference.name
        )
    await ctx.send(
        pexip.DisconnectConference(conference_id=conference.id),
        messages.attempted("end", conference.name),
    )
    return Done(Message(messages.done(ctx.user, "end", conference.name)), conference.name)


async def sync(ctx: Context, command: Sync) -> Done:
    template = str(command.template_id)
    ctx.target = f"template {template}"
    await ctx.send(
        pexip.SyncTemplate(conference_sync_template_id=template),
        messages.attempted("sync", template),
    )
    return Done(Message(messages.done(ctx.user, "sync", template)), ctx.target)


async def conference_choices(ctx: Context, typed: str, permission: str) -> list[tuple[str, str]]:
    """(label, alias) pairs for a form's conference picker: the configured aliases of the
    conferences the person may use `permission` on (a scoped moderator sees no other)."""
    services = await configuration.configured_conferences(ctx.services.pexip)
    ctx.services.conference_aliases.replace(services)
    visible = await ctx.visible(permission)
    wanted = typed.strip().casefold()
    choices = [
        (f"{alias} ({service.name})", alias)
        for service in services
        if visible is None or visible(service.name)
        for alias in service.alias_names
        if wanted in alias.casefold() or wanted in service.name.casefold()
    ]
    return choices[:100]
