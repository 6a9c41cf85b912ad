"""Two-person approval (INTERFACE §5 `approval`): the request, the Approve / Reject click, and
the expiry.

    a command the policy names reaches the point where it would call the node (`Context.send`)
    → `ask`: the request is stored (`bot.store.approvals`), posted in the channel with Approve
      and Reject, and audited `pending` under its ref
    → a click: `decide` checks the clicker (not the requester; an approver role; the command's
      permission on its conferences), then claims the request in the database: only the one
      claim that changes the row goes on, so two clicks make one node call
    → the runner runs the stored command for the requester, `approved_by` the clicker, under
      the same ref; a Reject or the expiry updates the message and audits under the same ref.

The leading clock expires what nobody clicked (`bot.approval_expiry`), and so does the one
serve of an SQLite file (`sweep`, which needs no clock for it); a click on a request whose time
is up is refused as expired even before the next round, and expires it.

Every refusal is said privately and leaves the node untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.approval_expiry import EVERY_SECONDS, asked, at_time, show_decided, utc_now
from bot.approval_expiry import expire as expire_request
from bot.approval_expiry import sweep as sweep_due
from bot.auth.permissions import ConferenceScope, Decision
from bot.auth.policy import Approval
from bot.services import Services
from bot.slack.mrkdwn import Mrkdwn, code, join, mention, plain, render
from bot.slack.replies import Interaction, Message, Replies
from bot.store.approvals import ApprovalRequest, State
from handlers import blocks
from handlers.context import NeedsApproval
from handlers.registry import Command, StaleButton, decode, encode

log = logging.getLogger(__name__)

APPROVE, REJECT = "approval_approve", "approval_reject"
SWEEP_SECONDS = EVERY_SECONDS  # how often the serve of an SQLite file expires requests


# --- asking ------------------------------------------------------------------------------------


async def ask(
    services: Services, replies: Replies, reference: str, need: NeedsApproval, rule: Approval
) -> str:
    """Store the request and post it in the channel; returns the audit detail."""
    interaction = replies.interaction
    now = utc_now()
    request = ApprovalRequest(
        ref=reference,
        word=need.command.word,
        permission=need.command.permission or need.command.word,
        command=encode(need.command),
        question=need.action,
        target=need.target,
        conferences=need.conferences,
        approvers=rule.approvers,
        requester=interaction.user_id,
        team=interaction.team_id,
        channel=interaction.channel_id or "",
        created_at=now,
        expires_at=now + timedelta(seconds=rule.expires),
    )
    await services.approvals.add(request)
    ts = await replies.public(pending_message(request))
    if ts:
        await services.approvals.posted(reference, ts)
    return f"waits for approval by {_roles(rule.approvers)} until {at_time(request.expires_at)}"


def _roles(names: tuple[str, ...]) -> str:
    return " or ".join(names)


def pending_message(request: ApprovalRequest) -> Message:
    minutes = max(1, round((request.expires_at - request.created_at).total_seconds() / 60))
    text = render(
        ":raised_hand: {}. It needs the approval of someone else with the {} role and the {} "
        "permission, by {} (in {} min). (ref `{}`)",
        asked(request),
        join(" or ", (code(name) for name in request.approvers)),
        code(request.permission),
        at_time(request.expires_at),
        minutes,
        request.ref,
    )
    buttons: list[ButtonElement] = [
        ButtonElement(text="Approve", action_id=APPROVE, value=request.ref, style="primary"),
        ButtonElement(text="Reject", action_id=REJECT, value=request.ref, style="danger"),
    ]
    rows: list[Block] = [blocks.section(text), ActionsBlock(elements=buttons)]
    return blocks.message(text, rows)


# --- a click ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """The click changes nothing: why (said privately), and how it is audited."""

    said: Mrkdwn
    outcome: messages.Outcome
    request: ApprovalRequest | None = None


@dataclass(frozen=True)
class Approved:
    """The click won: run `command` for the requester, approved by the clicker."""

    request: ApprovalRequest
    command: Command


@dataclass(frozen=True)
class Rejected:
    request: ApprovalRequest


async def decide(
    services: Services, client: AsyncWebClient, interaction: Interaction, ref: str, approve: bool
) -> Approved | Rejected | Refusal:
    """Check the click, then claim the request; nothing reaches the node here."""
    request = await services.approvals.get(ref)
    if request is None:
        return Refusal(render("No approval request has the ref `{}`.", ref[:32]), "invalid")
    now = utc_now()
    if request.state != "pending":
        return Refusal(_already(request), "invalid", request)
    if now >= request.expires_at:
        await expire(services, client, request, now)
        return Refusal(_expired(request), "invalid", request)
    may, why = await _may_decide(services, interaction, request, approve)
    if not may:
        return Refusal(why, "denied", request)
    state: State = "approved" if approve else "rejected"
    if not await services.approvals.decide(ref, state, interaction.user_id, now):
        latest = await services.approvals.get(ref) or request
        if latest.state == "pending":  # not decided by anyone: its time ran out meanwhile
            await expire(services, client, latest, utc_now())
            return Refusal(_expired(latest), "invalid", latest)
        return Refusal(_already(latest), "invalid", latest)
    decided = await services.approvals.get(ref) or request
    await show_decided(client, services.edits, decided)
    if not approve:
        return Rejected(decided)
    try:
        command = decode(request.command).command
    except StaleButton:  # stored by an older version that read commands differently
        return Refusal(render("This request can no longer be run; ask again."), "error", decided)
    return Approved(decided, command)


def _already(request: ApprovalRequest) -> Mrkdwn:
    by = mention(request.decided_by) if request.decided_by else render("nobody")
    if request.state == "approved":
        return render("Nothing more was done: this request was already approved by {}.", by)
    if request.state == "rejected":
        return render("Nothing was done: this request was rejected by {}.", by)
    return _expired(request)


def _expired(request: ApprovalRequest) -> Mrkdwn:
    return render(
        "Nothing was done: this request expired at {}. Ask again if it is still needed.",
        at_time(request.expires_at),
    )


async def _may_decide(
    services: Services, interaction: Interaction, request: ApprovalRequest, approve: bool
) -> tuple[bool, Mrkdwn]:
    """An approver: not the requester (whose own click changes nothing, INTERFACE §5), an
    approver role, and the command's permission on each conference it acts on."""
    user = interaction.user_id
    if user == request.requester:
        roles = join(" or ", (code(name) for name in request.approvers))
        if approve:
            return False, render(
                "you asked for this yourself, so someone else with the {} role must approve it",
                roles,
            )
        return False, render(
            "you asked for this yourself: someone else with the {} role may reject it, "
            "or it expires at {}",
            roles,
            at_time(request.expires_at),
        )
    authorizer = services.authorizer
    if not await authorizer.holds_role(user, request.approvers):
        return False, render(
            "approving or rejecting this request needs the {} role",
            join(" or ", (code(name) for name in request.approvers)),
        )
    for decision in await _permission(services, interaction, request):
        if not decision.allowed:
            return False, render("{}", Mrkdwn(decision.detail))
    return True, render("")


async def _permission(
    services: Services, interaction: Interaction, request: ApprovalRequest
) -> list[Decision]:
    """The clicker's decision on the command's permission, on every conference it acts on."""
    authorizer, channel = services.authorizer, interaction.channel_id
    user, permission = interaction.user_id, request.permission
    if not request.conferences:
        return [await authorizer.check(user, permission, channel_id=channel)]
    decisions = []
    for name in request.conferences:
        scope = ConferenceScope(name=name, aliases=await services.conference_aliases.of(name))
        decisions.append(
            await authorizer.check(user, permission, channel_id=channel, conference=scope)
        )
    return decisions


async def expire(
    services: Services, client: AsyncWebClient, request: ApprovalRequest, now: datetime
) -> bool:
    """A click found the request's time up: expire it now (unless the clock just did)."""
    return await expire_request(
        services.approvals, services.auditor, client, services.edits, request, now
    )


async def sweep(services: Services, client: AsyncWebClient) -> int:
    """Expire every pending request whose time is up; how many this process expired."""
    return await sweep_due(services.approvals, services.auditor, client, services.edits)


def refused_text(refusal: Refusal, reference: str) -> Mrkdwn:
    if refusal.outcome == "denied":
        return messages.denied(refusal.said, reference)
    return render(":information_source: {}", refusal.said)


def audit_detail(refusal: Refusal) -> str:
    return plain(refusal.said)
