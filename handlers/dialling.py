"""`dial`: typed, or through a form; then follow the placed call until it connects, editing its
message through `bot.coordination.message_edits` (one edit at a time, never back to an earlier
state)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, IPv6Address

from pydantic import ValidationError

from bot.coordination.message_edits import MessageEditError
from bot.pexip import commands as pexip
from bot.pexip import configuration, errors, status
from bot.services import Services
from bot.slack.mrkdwn import Mrkdwn, render
from bot.slack.replies import Message, Replies
from handlers import arguments as read
from handlers import modals
from handlers.arguments import Args, Problem, build
from handlers.commands import CALL_TYPES, PROTOCOLS, ROLES, CallType, Protocol, Role, Value
from handlers.context import Context, Done, Shown
from handlers.grammar import UsageError
from handlers.registry import Command, Said, Usage, command
from handlers.tokens import Token, quote
from handlers.usage import show, show_tokens, usage_hint

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
STREAM_KEEP_ALIVE = "keep_conference_alive_never"
"""A stream or recorder must not keep a conference alive on its own: the conference ends when
it is the only leg left (facts §5)."""


DIAL_FORM = (
    "dial <conference-alias> <destination> [role=chair|guest]"
    " [protocol=sip|h323|mssip|rtmp|gms|teams] [call_type=video|video-only|audio]"
    " [location=<system location>] [node=<IP address>] [name=<display name>]"
)


class OpenDialModal(Command):
    """`dial` with no arguments: the app opens a form."""


class Dial(Command):
    """`dial <conference-alias> <destination> [options]`: call out from a conference."""

    conference_alias: Value
    destination: Value
    role: Role = "guest"
    protocol: Protocol = "sip"
    call_type: CallType = "video"
    location: Value | None = None
    node: IPv4Address | IPv6Address | None = None
    name: Value | None = None

    def _arguments(self) -> tuple[str, ...]:
        options = tuple(
            f"{key}={quote(str(value))}"
            for key, value in self._options().items()
            if value != type(self).model_fields[key].default
        )
        return (quote(self.conference_alias), quote(self.destination), *options)

    def _options(self) -> dict[str, object]:
        return self.model_dump(exclude={"conference_alias", "destination"})


def _read_dial(args: Args, model: type[Dial]) -> Dial | OpenDialModal:
    if not args.positional and not args.options:
        return OpenDialModal()
    alias, destination = _dial_targets(args.positional)
    options = {key: _DIAL_OPTIONS[key](key, text) for key, text in args.options.items()}
    return build(model, "dial", conference_alias=alias, destination=destination, **options)


def _dial_targets(tokens: tuple[Token, ...]) -> tuple[str, str]:
    if not tokens:
        raise Problem(
            render("`dial` needs the conference alias and the destination to call."), "dial"
        )
    if len(tokens) == 1:
        sentence = render(
            "`dial` needs a destination to call after the alias {}.", show(tokens[0].text)
        )
        raise Problem(sentence, "dial")
    if len(tokens) > 2:
        sentence = render(
            "`dial` takes two values, the conference alias and the destination; got {}: {}. "
            'Put a value with spaces in quotes, and a display name as name="Alice Parkes".',
            len(tokens),
            show_tokens(tokens),
        )
        raise Problem(sentence, "dial")
    alias = read.value(tokens[0], "dial", "conference alias")
    return alias, read.value(tokens[1], "dial", "destination")


_DIAL_OPTIONS: dict[str, Callable[[str, str], object]] = {
    "role": lambda key, text: read.choice("dial", key, text, ROLES),
    "protocol": lambda key, text: read.choice("dial", key, text, PROTOCOLS),
    "call_type": lambda key, text: read.choice("dial", key, text, CALL_TYPES),
    "location": lambda key, text: text,
    "node": lambda key, text: read.ip_address("dial", key, text),
    "name": lambda key, text: text,
}


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


@command(
    OpenDialModal,
    word="dial",
    permission="dial",
    kind="form",
    key="dial form",
    usage=Usage(
        "dial",
        "Call someone into a conference; with no arguments, opens a form.",
        'dial meet@example.com alice@example.com role=chair name="Alice Parkes"',
    ),
)
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


@command(
    Dial,
    word="dial",
    permission="dial",
    usage=Usage(DIAL_FORM),
    grammar=_read_dial,
    options=("role", "protocol", "call_type", "location", "node", "name"),
    said=Said(done="is dialling {target}", attempt="dial {target}"),
)
async def dial(ctx: Context, command: Dial) -> Done:
    request = node_command(command, ctx.services.default_location, ctx.services.slash)
    service = await ctx.service_for_alias(command.conference_alias)
    await _destination_allowed(ctx, command.destination)
    target = f"{command.destination} into {service.name}"
    result = await ctx.send(request, ctx.attempt(command, target), target)
    said = ctx.done(command, target)
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
        await ctx.require(service.name, shown=destination)


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


RINGING, WAITING, ENDED = 1, 2, 3
"""The versions of a dial's message (`bot.coordination.message_edits`): posted ringing, then
perhaps waiting to be admitted, then how it ended (connected, not answered). An edit goes
through the message's edits, one at a time and never back to an earlier state."""


async def follow_call(
    services: Services, replies: Replies, participant_id: str, ts: str, said: Mrkdwn
) -> None:
    """Edit the channel message as the call goes: answered and waiting to be admitted (a
    locked conference), then connected, or not answered, within `follow_up_seconds`.

    Connected means in the conference itself (`service_type` conference or lecture), not
    `has_media`: a connected leg may have no media, and a ringing one is `connecting`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + services.follow_up_seconds
    shown, outcome = RINGING, "not answered"
    while loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        try:
            participant = await status.participant_by_id(services.pexip, participant_id)
        except errors.NotFound:
            ended_while = "left before being admitted" if shown == WAITING else "not answered"
            outcome = f"{ended_while} (the call ended)"
            break
        except errors.PexipError as exc:
            log.info("following call %s: %s", participant_id, exc.message)
            continue
        if participant.is_in_the_room:
            outcome = "connected"
            break
        if participant.is_waiting and shown < WAITING:
            shown = WAITING
            waiting = "answered, waiting to be admitted (the conference is locked)"
            await _show(services, replies, participant_id, ts, WAITING, said, waiting)
    else:
        if shown == WAITING:
            return  # still waiting when we stop following: the message says so already
    await _show(services, replies, participant_id, ts, ENDED, said, outcome)


async def _show(
    services: Services,
    replies: Replies,
    call: str,
    ts: str,
    version: int,
    said: Mrkdwn,
    state: str,
) -> None:
    """Edit the dial's message to say `state` through its edits (`services.edits`), unless a
    state as late was shown already. The key names the call too: one message per call."""
    message = Message(render("{} {}.", said, state.capitalize()))

    async def send() -> None:
        await replies.update(ts, message)

    if services.edits is None:
        await send()
        return
    key = f"dial:{replies.interaction.channel_id}:{ts}:{call}"
    try:
        await services.edits.edit(key, version, send)
    except MessageEditError as exc:  # the database: the edit is not serialised, but shown
        log.warning("%s; editing the dial message %s directly", exc, ts)
        await send()
