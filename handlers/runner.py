"""Run one typed command for one person, from any entry point, and answer and audit it.

    parse → authorize (before any node call) → handler: resolve, authorize on the conference,
    send → reply (channel or private) → audit

Every error is mapped here, in one place, to what the user reads (`bot.messages`) and to the
audit outcome. Nothing escapes: an unexpected error is logged with a reference the user is given.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.audit import new_correlation_id
from bot.mrkdwn import plain
from bot.pexip import errors
from bot.resolve import Ambiguous, NoMatch
from bot.services import Services
from bot.teams import Workspace
from handlers import blocks
from handlers.commands import BaseCommand
from handlers.conferences import conference_choices
from handlers.context import (
    CommandFailed,
    Confirm,
    Context,
    Denied,
    Listing,
    Outcome,
    Reported,
    Shown,
)
from handlers.dispatch import EXECUTORS
from handlers.grammar import UsageError, parse
from handlers.replies import Interaction, Message, Replies

log = logging.getLogger(__name__)
T = TypeVar("T")


def read(text: str, slash: str) -> BaseCommand | UsageError:
    """The command in a line of text, or what is wrong with the line."""
    try:
        return parse(text, slash)
    except UsageError as exc:  # it may wait in the queue: drop the parser's frames it holds
        exc.__context__ = None
        return exc.with_traceback(None)


def opens_form(command: BaseCommand | UsageError) -> bool:
    """It opens a form, so it must run at once: Slack's trigger id expires 3 s after the click or
    the command (`Services.commands`)."""
    return isinstance(command, BaseCommand) and command.opens_form


async def run_text(
    services: Services,
    client: AsyncWebClient,
    interaction: Interaction,
    text: str,
    *,
    confirmed: bool = False,
) -> None:
    """A command line carried by a button (or typed: see `run_read`)."""
    command = read(text, services.slash)
    await run_read(services, client, interaction, text, command, confirmed=confirmed)


async def run_read(
    services: Services,
    client: AsyncWebClient,
    interaction: Interaction,
    text: str,
    command: BaseCommand | UsageError,
    *,
    confirmed: bool = False,
) -> None:
    """A line of text already `read`: the command runs, or its usage error is answered."""
    word = command.command or "unknown" if isinstance(command, UsageError) else command.word
    if await refused_workspace(services, client, interaction, word, text):
        return
    if isinstance(command, UsageError):
        replies = Replies(client, interaction)
        reference = new_correlation_id()
        await _say(replies.private(Message(messages.usage(command.message))), reference)
        await _audit(
            services,
            interaction,
            command.command or "unknown",
            "invalid",
            text,
            plain(command.message),
            reference,
        )
        return
    await _run(services, client, interaction, command, confirmed=confirmed)


async def run(
    services: Services,
    client: AsyncWebClient,
    interaction: Interaction,
    command: BaseCommand,
    *,
    confirmed: bool = False,
) -> None:
    """A command built from a button or a form."""
    if await refused_workspace(services, client, interaction, command.word, command.to_text()):
        return
    await _run(services, client, interaction, command, confirmed=confirmed)


async def refused_workspace(
    services: Services, client: AsyncWebClient, interaction: Interaction, word: str, target: str
) -> bool:
    """A request from a Slack workspace not allowed (SLACK_ALLOWED_TEAMS): refused privately
    and audited as denied, before anything else is done."""
    if services.teams is None:
        return False
    workspace = Workspace(interaction.team_id, interaction.user_team_id, interaction.enterprise_id)
    if await services.teams.allows(workspace):
        return False
    reference = new_correlation_id()
    said = messages.denied("this bot takes commands only from its own Slack workspace", reference)
    await _say(Replies(client, interaction).private(Message(said)), reference)
    detail = f"Slack workspace {workspace.describe()} is not allowed (SLACK_ALLOWED_TEAMS)"
    await _audit(services, interaction, word, "denied", target, detail, reference)
    return True


async def _run(
    services: Services,
    client: AsyncWebClient,
    interaction: Interaction,
    command: BaseCommand,
    *,
    confirmed: bool = False,
) -> None:
    replies = Replies(client, interaction)
    ctx = Context(services, interaction, replies, new_correlation_id(), confirmed)
    outcome, detail, target = await _attempt(ctx, command)
    if outcome is not None:
        await _audit(
            services,
            interaction,
            command.word,
            outcome,
            target or ctx.target,
            detail,
            ctx.reference,
        )


async def execute(ctx: Context, command: BaseCommand) -> Outcome:
    """Authorize before any node call (the user must hold the permission somewhere), then act."""
    if command.permission is not None:
        await ctx.require(command.permission)
    return await EXECUTORS[type(command)](ctx, command)


async def _attempt(ctx: Context, command: BaseCommand) -> tuple[messages.Outcome | None, str, str]:
    """Run and reply; returns (audit outcome, or None if nothing to audit; detail; target)."""
    private, public = ctx.replies.private, ctx.replies.public
    try:
        result = await execute(ctx, command)
    except UsageError as exc:
        await _say(private(Message(messages.usage(exc.message))), ctx.reference)
        return "invalid", plain(exc.message), ""
    except Denied as exc:
        text = messages.denied(exc.decision.detail, ctx.reference)
        await _say(private(Message(text)), ctx.reference)
        return "denied", plain(exc.decision.detail), ""
    except NoMatch as exc:
        text = messages.no_match(str(exc), ctx.services.slash, exc.listing)
        await _say(private(Message(text)), ctx.reference)
        return "invalid", str(exc), ""
    except Reported as exc:
        await _say(public(exc.message), ctx.reference)
        return "error", exc.detail, ""
    except Ambiguous as exc:
        await _say(private(blocks.pick_one(command, exc)), ctx.reference)
        return None, "", ""
    except CommandFailed as exc:
        text = messages.command_failed(ctx.user, exc.action, exc.error)
        await _say(public(Message(text)), ctx.reference)
        return "error", exc.error.message, ""
    except errors.PexipError as exc:
        await _say(private(Message(messages.lookup_failed(exc))), ctx.reference)
        return "error", exc.message, ""
    except Exception:
        log.exception("unexpected error running %s (ref %s)", command.word, ctx.reference)
        await _say(private(Message(messages.internal_error(ctx.reference))), ctx.reference)
        return "error", f"internal error, ref {ctx.reference}", ""
    return await _deliver(ctx, result)


async def _deliver(ctx: Context, result: Outcome) -> tuple[messages.Outcome | None, str, str]:
    if isinstance(result, Confirm):
        await _say(ctx.replies.private(result.message), ctx.reference)
        return None, "", result.target
    if isinstance(result, Listing):
        if ctx.interaction.source == "button" and ctx.interaction.refresh:
            await _say(ctx.replies.replace_source(result.message), ctx.reference)
        else:
            await _say(ctx.replies.private(result.message), ctx.reference)
        return "success", "", result.target
    if isinstance(result, Shown):
        return None, "", result.target
    ts = await _say(ctx.replies.public(result.message), ctx.reference)
    if result.follow_up is not None:
        await result.follow_up(ts)
    await _after_done(ctx)
    return "success", result.detail, result.target


async def _after_done(ctx: Context) -> None:
    """A button in a listing, or a confirmation: show the listing's new state in place."""
    interaction = ctx.interaction
    if interaction.source == "pick" or (
        interaction.source == "confirm" and not interaction.refresh
    ):
        await _say(ctx.replies.delete_source(), ctx.reference)
        return
    if not interaction.refresh:
        return
    try:
        listing = await execute(ctx, parse(interaction.refresh, ctx.services.slash))
    except Exception as exc:  # the action itself succeeded; a stale listing is no failure
        log.info(
            "could not refresh listing %r (ref %s): %s", interaction.refresh, ctx.reference, exc
        )
        return
    if isinstance(listing, Listing):
        await _say(ctx.replies.replace_source(listing.message), ctx.reference)


async def _say(sending: Awaitable[T], reference: str) -> T | None:
    """Post, and if Slack cannot take it even after retries, log it with the reference."""
    try:
        return await sending
    except Exception:
        log.exception("could not deliver a message to Slack (ref %s)", reference)
        return None


async def _audit(
    services: Services,
    interaction: Interaction,
    command: str,
    outcome: messages.Outcome,
    target: str,
    detail: str,
    reference: str,
) -> None:
    try:
        await services.auditor.record(
            user=interaction.user_id,
            team=interaction.team_id,
            channel=interaction.channel_id or "",
            command=command,
            outcome=outcome,
            target=target,
            detail=detail,
            correlation_id=reference,
        )
    except Exception:
        log.exception("could not write the audit entry (ref %s)", reference)


async def audit_invalid(
    services: Services, interaction: Interaction, command: str, target: str, detail: str
) -> None:
    """A form refused inline (its errors shown under the fields)."""
    await _audit(services, interaction, command, "invalid", target, detail, new_correlation_id())


async def choices(
    services: Services,
    client: AsyncWebClient,
    interaction: Interaction,
    permission: str,
    typed: str,
) -> list[tuple[str, str]]:
    """Options for a form's conference picker, for a person who holds `permission`."""
    ctx = Context(services, interaction, Replies(client, interaction), new_correlation_id())
    if services.teams is not None and not await services.teams.allows(
        Workspace(interaction.team_id, interaction.user_team_id, interaction.enterprise_id)
    ):
        detail = f"Slack workspace {interaction.team_id} is not allowed (SLACK_ALLOWED_TEAMS)"
        await _audit(
            services, interaction, permission, "denied", "conference options", detail, ctx.reference
        )
        return []
    try:
        await ctx.require(permission)
    except Denied as exc:
        await _audit(
            services,
            interaction,
            permission,
            "denied",
            "conference options",
            plain(exc.decision.detail),
            ctx.reference,
        )
        return []
    try:
        return await conference_choices(ctx, typed, permission)
    except errors.PexipError as exc:
        log.warning("conference options: %s (ref %s)", exc.message, ctx.reference)
        return []
