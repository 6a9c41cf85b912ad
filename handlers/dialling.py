"""`dial`: typed, or through a form; then follow the placed call until it is answered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from bot import messages
from bot.mrkdwn import Mrkdwn, render
from bot.pexip import commands as pexip
from bot.pexip import configuration, errors, status
from bot.services import Services
from handlers import modals
from handlers.commands import Dial, OpenDialModal
from handlers.context import Context, Done, Shown
from handlers.grammar import UsageError
from handlers.replies import Message, Replies
from handlers.usage import usage_hint

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
STREAM_KEEP_ALIVE = "keep_conference_alive_never"
"""A stream or recorder must not keep a conference alive on its own: the conference ends when
it is the only leg left (facts §5)."""


def node_command(command: Dial, default_location: str | None, slash: str) -> pexip.Dial:
    """The vendor's request: `location=`, else PEXIP_DEFAULT_LOCATION unless a node is given."""
    location = command.location or (None if command.node else default_location)
    if command.node is None and location is None:
        raise UsageError(
            render(
                "`dial` needs `location=&lt;system location&gt;` or `node=&lt;IP address&gt;` "
                "to place the call from (no default location is configured). {}",
                usage_hint("dial", slash),
            ),
            "dial",
        )
    stream = command.protocol == "rtmp"
    try:
        return pexip.Dial(
            conference_alias=command.conference_alias,
            destination=command.destination,
            node=command.node,
            system_location=location,
            protocol=command.protocol,
            role=command.role,
            call_type=command.call_type,
            remote_display_name=command.name,
            streaming=True if stream else None,
            keep_conference_alive=STREAM_KEEP_ALIVE if stream else None,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        sentence = render("`{}`: {}. {}", field, problem["msg"], usage_hint("dial", slash))
        raise UsageError(sentence, "dial") from None


async def dial(ctx: Context, command: Dial) -> Done:
    request = node_command(command, ctx.services.default_location, ctx.services.slash)
    service = await ctx.service_for_alias(command.conference_alias, "dial")
    await _destination_allowed(ctx, command.destination)
    target = f"{command.destination} into {service.name}"
    ctx.target = target
    result = await ctx.send(request, messages.attempted("dial", target))
    said = messages.done(ctx.user, "dial", target)
    return Done(
        Message(render("{} Ringing…", said)),
        target,
        detail=f"participant {result.participant_id}" if result.participant_id else "",
        follow_up=_watcher(ctx.services, ctx.replies, result.participant_id, said),
    )


_DIALLABLE_SCHEMES = ("sip:", "sips:", "h323:", "mssip:", "tel:")


async def _destination_allowed(ctx: Context, destination: str) -> None:
    """A destination that is an alias of a conference on this node joins that conference into
    this one, so `dial` needs the permission there too (like `transfer`)."""
    if "://" in destination:  # rtmp(s):// streaming targets are not conference aliases
        return
    alias = destination
    for scheme in _DIALLABLE_SCHEMES:
        if alias.casefold().startswith(scheme):
            alias = alias[len(scheme) :]
            break
    service = await ctx.alias_service(alias)
    if service is not None:
        await ctx.require("dial", service.name, shown=destination)


def _watcher(
    services: Services, replies: Replies, participant_id: str | None, said: Mrkdwn
) -> Callable[[str | None], Awaitable[None]] | None:
    if participant_id is None:
        return None

    async def watch(ts: str | None) -> None:
        if ts is not None:
            services.in_background(
                follow_call(services, replies, participant_id, ts, said), f"follow {participant_id}"
            )

    return watch


async def follow_call(
    services: Services, replies: Replies, participant_id: str, ts: str, said: Mrkdwn
) -> None:
    """Update the channel message: connected, or not answered, within `follow_up_seconds`.

    Connected means in the conference itself (`service_type` conference or lecture), not
    `has_media`: a connected leg may have no media, and a ringing one is `connecting`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + services.follow_up_seconds
    state = "not answered"
    while loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        try:
            participant = await status.participant_by_id(services.pexip, participant_id)
        except errors.NotFound:
            state = "not answered (the call ended)"
            break
        except errors.PexipError as exc:
            log.info("following call %s: %s", participant_id, exc.message)
            continue
        if participant.is_in_the_room:
            state = "connected"
            break
        if participant.is_waiting:
            state = "answered, waiting to be admitted (the conference is locked)"
            break
    await replies.update(ts, Message(render("{} {}.", said, state.capitalize())))


async def open_form(ctx: Context, command: OpenDialModal) -> Shown:
    """`dial` alone: a form. Trigger ids expire in ~3 s, so a loading view opens first."""
    trigger = ctx.interaction.trigger_id
    if trigger is None:
        hint = usage_hint("dial", ctx.services.slash)
        raise UsageError(render("Type the call instead: {}", hint), "dial")
    client = ctx.replies.client
    opened = await client.views_open(trigger_id=trigger, view=modals.loading("Dial"))
    view_id = opened["view"]["id"]
    locations = [loc.name for loc in await configuration.system_locations(ctx.services.pexip)]
    form = modals.dial_form(
        locations, ctx.services.default_location, modals.metadata(ctx.interaction)
    )
    await client.views_update(view_id=view_id, view=form)
    return Shown("dial form")
