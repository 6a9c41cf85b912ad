"""The one path every entry point takes: typed command, button, confirmation, form, pick.

    parse (the listener: text, a button's value or a form, into the typed command)
    → authorize, once, scope included (`Authorizer.grant`, before any node call)
    → resolve names within the grant → call the node (the declared executor)
    → render (channel or private) → audit (target and detail from the outcome)

Every error is mapped here, in one place, to what the user reads (`bot.messages`) and to the
audit outcome. Nothing escapes: an unexpected error is logged with a reference the user is given.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.auth.permissions import Grant, Refused
from bot.auth.teams import Workspace
from bot.coordination.journal import TakenOver
from bot.pexip import errors
from bot.pexip.resolve import Ambiguous, NoMatch
from bot.services import Services
from bot.slack.mrkdwn import plain
from bot.slack.replies import Interaction, Message, Replies
from bot.store.approvals import ApprovalRequest
from bot.store.audit import new_correlation_id
from handlers import approvals, blocks
from handlers.conferences import conference_choices
from handlers.context import (
    CommandFailed,
    Confirm,
    Context,
    Denied,
    Listing,
    NeedsApproval,
    Outcome,
    Reported,
    Shown,
)
from handlers.grammar import UsageError, parse
from handlers.registry import REGISTRY, Command, decode

log = logging.getLogger(__name__)
T = TypeVar("T")


def read(text: str, slash: str) -> Command | UsageError:
    """The command in a line of text, or what is wrong with the line."""
    try:
        return parse(text, slash)
    except UsageError as exc:  # it may wait in the queue: drop the parser's frames it holds
        exc.__context__ = None
        return exc.with_traceback(None)


def may_open_form(text: str) -> bool:
    """Whether typed text may be a command that opens a form (`dial` alone), so it must be read
    at once; any other is read when its turn in the queue comes."""
    words = text.split(None, 1)
    first = words[0].lower() if words else ""
    return first in REGISTRY.form_words()


async def run_typed(
    services: Services, client: AsyncWebClient, interaction: Interaction, text: str
) -> None:
    """A typed command: read (`parse`), then the one path."""
    await run(services, client, interaction, read(text, services.slash), typed=text)


def opens_form(command: Command | UsageError) -> bool:
    """It opens a form, so it must run at once: Slack's trigger id expires 3 s after the click or
    the command (`Services.commands`)."""
    return isinstance(command, Command) and command.opens_form


@dataclass(frozen=True)
class Audited:
    """What the audit log records of one attempt (None outcome: nothing to record yet, e.g. a
    confirmation asked or a choice offered)."""

    outcome: messages.Outcome | None
    target: str = ""
    detail: str = ""
    approved_by: str | None = None


async def run(
    services: Services,
    client: AsyncWebClient,
    interaction: Interaction,
    command: Command | UsageError,
    *,
    typed: str = "",
    confirmed: bool = False,
    approved: approvals.Approved | None = None,
) -> None:
    """Run one command for the person in `interaction`, answer them and audit it. `typed` is
    the text of a typed command (the audit target of a usage error); `approved`: a request a
    second person approved (same ref, audited with who approved it)."""
    word = command.command or "unknown" if isinstance(command, UsageError) else command.word
    target = typed if isinstance(command, UsageError) or typed else command.to_text()
    if await refused_workspace(services, client, interaction, word, target):
        return
    replies = Replies(client, interaction)
    reference = new_correlation_id() if approved is None else approved.request.ref
    if isinstance(command, UsageError):
        await _say(replies.private(Message(messages.usage(command.message))), reference)
        audited = Audited("invalid", typed, plain(command.message))
        await _audit(services, interaction, command.command or "unknown", audited, reference)
        return
    by = None if approved is None else approved.request.decided_by
    audited = await _attempt(services, replies, reference, command, confirmed, by)
    if audited.outcome is not None:
        await _audit(services, interaction, command.word, audited, reference)


async def run_decision(
    services: Services, client: AsyncWebClient, interaction: Interaction, ref: str, approve: bool
) -> None:
    """An Approve or Reject click on a request: the clicker checked and the request claimed
    (`approvals.decide`), then, approved, the stored command runs on the one path, for the
    requester, confirmed already, under the request's ref."""
    if await refused_workspace(services, client, interaction, "approval", f"request {ref}"):
        return
    replies = Replies(client, interaction)
    try:
        decided = await approvals.decide(services, client, interaction, ref, approve)
    except Exception:
        log.exception("could not decide the approval request %s", ref)
        await _say(replies.private(Message(messages.internal_error(ref))), ref)
        return
    if isinstance(decided, approvals.Refusal):
        await _say(replies.private(Message(approvals.refused_text(decided, ref))), ref)
        request = decided.request
        word, target = ("approval", "") if request is None else (request.word, request.target)
        audited = Audited(decided.outcome, target, approvals.audit_detail(decided))
        await _audit(services, interaction, word, audited, ref)
        return
    request = decided.request
    if isinstance(decided, approvals.Rejected):
        rejected = Audited("rejected", request.target, f"rejected by {interaction.user_id}")
        requester = _as_requester(interaction, request)
        await _audit(services, requester, request.word, rejected, ref)
        return
    requester = _as_requester(interaction, request)
    await run(services, client, requester, decided.command, confirmed=True, approved=decided)


def _as_requester(interaction: Interaction, request: ApprovalRequest) -> Interaction:
    """The approved command runs as the requester's, in the request's channel; what only one
    person should see goes to the approver who clicked (their response_url)."""
    return Interaction(
        user_id=request.requester,
        channel_id=request.channel or interaction.channel_id,
        team_id=request.team or interaction.team_id,
        response_url=interaction.response_url,
        source="approval",
        user_team_id=interaction.user_team_id,
        enterprise_id=interaction.enterprise_id,
    )


async def refused_workspace(
    services: Services, client: AsyncWebClient, interaction: Interaction, word: str, target: str
) -> bool:
    """A request from a Slack workspace not allowed (SLACK_ALLOWED_TEAMS): refused privately
    and audited as denied, before anything else is done."""
    if services.teams is None or await services.teams.allows(_workspace(interaction)):
        return False
    reference = new_correlation_id()
    said = messages.denied("this bot takes commands only from its own Slack workspace", reference)
    await _say(Replies(client, interaction).private(Message(said)), reference)
    detail = (
        f"Slack workspace {_workspace(interaction).describe()} is not allowed (SLACK_ALLOWED_TEAMS)"
    )
    await _audit(services, interaction, word, Audited("denied", target, detail), reference)
    return True


def _workspace(interaction: Interaction) -> Workspace:
    return Workspace(interaction.team_id, interaction.user_team_id, interaction.enterprise_id)


async def stale_button(
    services: Services, client: AsyncWebClient, interaction: Interaction, action_id: str
) -> None:
    """A button this version does not know, or whose value it cannot read (a message of an
    older version): said privately, nothing done; a workspace not allowed is refused (and
    audited) as for any request."""
    if await refused_workspace(services, client, interaction, "button", action_id):
        return
    reference = new_correlation_id()
    text = messages.outdated_button(services.slash)
    await _say(Replies(client, interaction).private(Message(text)), reference)


async def authorize(services: Services, interaction: Interaction, command: Command) -> Grant:
    """The one authorization of a command: the permission its declaration names, in this
    channel, with the conferences it covers (checked by `Context.require` once they are known).
    Raises `Denied` before any node call when the user holds it nowhere."""
    permission = command.permission or command.word
    try:
        return await services.authorizer.grant(
            interaction.user_id, permission, channel_id=interaction.channel_id
        )
    except Refused as refused:
        raise Denied(refused.decision) from None


async def _execute(
    services: Services,
    replies: Replies,
    reference: str,
    command: Command,
    confirmed: bool,
    approved_by: str | None = None,
) -> Outcome:
    grant = await authorize(services, replies.interaction, command)
    ctx = Context(
        services, replies.interaction, replies, reference, grant, confirmed, command, approved_by
    )
    outcome: Outcome = await REGISTRY.of(command).execute(ctx, command)
    return outcome


async def _attempt(
    services: Services,
    replies: Replies,
    reference: str,
    command: Command,
    confirmed: bool,
    approved_by: str | None = None,
) -> Audited:
    """Authorize, run and reply; what to audit."""
    private, public = replies.private, replies.public
    try:
        result = await _execute(services, replies, reference, command, confirmed, approved_by)
    except NeedsApproval as need:
        return await _ask_approval(services, replies, reference, need)
    except UsageError as exc:
        await _say(private(Message(messages.usage(exc.message))), reference)
        return Audited("invalid", exc.target, plain(exc.message))
    except Denied as exc:
        text = messages.denied(exc.decision.detail, reference)
        await _say(private(Message(text)), reference)
        return Audited("denied", exc.target, plain(exc.decision.detail))
    except NoMatch as exc:
        text = messages.no_match(str(exc), services.slash, exc.listing)
        await _say(private(Message(text)), reference)
        return Audited("invalid", "", str(exc))
    except Reported as exc:
        await _say(public(exc.message), reference)
        return Audited("error", exc.target, exc.detail)
    except Ambiguous as exc:
        await _say(private(blocks.pick_one(command, exc)), reference)
        return Audited(None)
    except CommandFailed as exc:
        text = messages.command_failed(replies.interaction.user_id, exc.action, exc.error)
        await _say(public(Message(text)), reference)
        return Audited("error", exc.target, exc.error.message)
    except errors.PexipError as exc:
        await _say(private(Message(messages.lookup_failed(exc))), reference)
        return Audited("error", "", exc.message)
    except TakenOver:
        log.info(
            "%s (ref %s) was taken over by another process: it answers", command.word, reference
        )
        return Audited(None)
    except Exception:
        log.exception("unexpected error running %s (ref %s)", command.word, reference)
        await _say(private(Message(messages.internal_error(reference))), reference)
        return Audited("error", "", f"internal error, ref {reference}")
    audited = await _deliver(services, replies, reference, result)
    return Audited(audited.outcome, audited.target, audited.detail, approved_by)


async def _ask_approval(
    services: Services, replies: Replies, reference: str, need: NeedsApproval
) -> Audited:
    """Instead of acting: the request, posted in the channel with Approve and Reject."""
    rule = services.authorizer.policy.approval_for(need.command.permission or need.command.word)
    assert rule is not None  # raised only when the policy names one
    try:
        detail = await approvals.ask(services, replies, reference, need, rule)
    except Exception:
        log.exception("could not ask for approval (ref %s)", reference)
        await _say(replies.private(Message(messages.internal_error(reference))), reference)
        return Audited("error", need.target, f"the approval request failed, ref {reference}")
    if replies.interaction.source == "confirm":  # the confirmation was answered: taken away
        await _say(replies.delete_source(), reference)
    return Audited("pending", need.target, detail)


async def _deliver(
    services: Services, replies: Replies, reference: str, result: Outcome
) -> Audited:
    interaction = replies.interaction
    if isinstance(result, Confirm):
        await _say(replies.private(result.message), reference)
        return Audited(None, result.target)
    if isinstance(result, Listing):
        if interaction.source == "button" and interaction.refresh:
            await _say(replies.replace_source(result.message), reference)
        else:
            await _say(replies.private(result.message), reference)
        return Audited("success", result.target)
    if isinstance(result, Shown):
        return Audited(None, result.target)
    ts = await _say(replies.public(result.message), reference)
    if result.follow_up is not None:
        await result.follow_up(ts)
    await _after_done(services, replies, reference)
    return Audited("success", result.target, result.detail)


async def _after_done(services: Services, replies: Replies, reference: str) -> None:
    """A button in a listing, or a confirmation: show the listing's new state in place."""
    interaction = replies.interaction
    if interaction.source == "pick" or (
        interaction.source == "confirm" and not interaction.refresh
    ):
        await _say(replies.delete_source(), reference)
        return
    if not interaction.refresh:
        return
    try:
        listing = decode(interaction.refresh).command
        shown = await _execute(services, replies, reference, listing, False)
    except Exception as exc:  # the action succeeded; a stale listing is no failure
        log.info("could not refresh the listing (ref %s): %s", reference, exc)
        return
    if isinstance(shown, Listing):
        await _say(replies.replace_source(shown.message), reference)


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
    audited: Audited,
    reference: str,
) -> None:
    assert audited.outcome is not None
    try:
        await services.auditor.record(
            user=interaction.user_id,
            team=interaction.team_id,
            channel=interaction.channel_id or "",
            command=command,
            outcome=audited.outcome,
            target=audited.target,
            detail=audited.detail,
            correlation_id=reference,
            approved_by=audited.approved_by,
        )
    except Exception:
        log.exception("could not write the audit entry (ref %s)", reference)


async def audit_invalid(
    services: Services, interaction: Interaction, command: str, target: str, detail: str
) -> None:
    """A form refused inline (its errors shown under the fields)."""
    audited = Audited("invalid", target, detail)
    await _audit(services, interaction, command, audited, new_correlation_id())


async def choices(
    services: Services,
    client: AsyncWebClient,
    interaction: Interaction,
    permission: str,
    typed: str,
) -> list[tuple[str, str]]:
    """Options for a form's conference picker, for a person who holds `permission`."""
    reference = new_correlation_id()
    if services.teams is not None and not await services.teams.allows(_workspace(interaction)):
        detail = f"Slack workspace {interaction.team_id} is not allowed (SLACK_ALLOWED_TEAMS)"
        audited = Audited("denied", "conference options", detail)
        await _audit(services, interaction, permission, audited, reference)
        return []
    try:
        grant = await services.authorizer.grant(
            interaction.user_id, permission, channel_id=interaction.channel_id
        )
    except Refused as exc:
        audited = Audited("denied", "conference options", plain(exc.decision.detail))
        await _audit(services, interaction, permission, audited, reference)
        return []
    ctx = Context(services, interaction, Replies(client, interaction), reference, grant)
    try:
        return await conference_choices(ctx, typed)
    except errors.PexipError as exc:
        log.warning("conference options: %s (ref %s)", exc.message, reference)
        return []
