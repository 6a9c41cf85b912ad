"""Approval requests whose time ran out (INTERFACE §5 `approval`, §10): marked expired once, their
message edited to say so, and audited `expired` under their ref.

Two paths expire a request, and the database lets exactly one of them do it (the conditional
UPDATE of `bot.store.approvals`):
- the leading clock's job (`ApprovalExpiry`, scheduled by `schedule_expiry` every
  `EVERY_SECONDS`): what nobody clicked is expired once, by one process, whichever clock leads;
- a click on a request whose time is up (`handlers.approvals.decide`), which may come before
  the clock's next round: it is refused as expired all the same, and expires it.

The decided request's message is rendered here, so that both paths say the same, and edited
through `bot.coordination.message_edits` (one edit of it at a time, never an older one last).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock
from slack_sdk.web.async_client import AsyncWebClient

from bot.auditing import auditor
from bot.config import Settings
from bot.coordination.message_edits import MessageEdits
from bot.slack import limits
from bot.slack.client import slack_client
from bot.slack.mrkdwn import Mrkdwn, mention, render, shorten
from bot.slack.replies import Message
from bot.store.approvals import ApprovalRequest, ApprovalStore
from bot.store.audit import Auditor, AuditStore

log = logging.getLogger(__name__)

JOB_ID = "approval-expiry"
JOB_STORE = "in-memory"
"""The job holds this process's stores and clients: it is not pickled into DATABASE_URL."""
EVERY_SECONDS = 2.0
DECIDED_VERSION = 1
"""The request's message has two states: pending (posted) and decided (one edit, once)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- what the request's message says -----------------------------------------------------------


def at_time(moment: datetime) -> str:
    return f"{moment:%H:%M:%S} UTC"


def asked(request: ApprovalRequest) -> Mrkdwn:
    """ "<@U1> asks to end VMR_1": the question is the command's declared wording."""
    return render("{} asks to {}", mention(request.requester), Mrkdwn(request.question))


def decided_message(request: ApprovalRequest) -> Message:
    """The request's message once decided: who approved or rejected it, or that it expired."""
    by = mention(request.decided_by) if request.decided_by else render("nobody")
    outcome = {
        "approved": render(":white_check_mark: Approved by {}", by),
        "rejected": render(":x: Rejected by {}: nothing was done", by),
        "expired": render(
            ":hourglass: Expired at {}: nothing was done", at_time(request.expires_at)
        ),
        "pending": render(":raised_hand: Waiting for approval"),
    }[request.state]
    text = render("{}. {}. (ref `{}`)", asked(request), outcome, request.ref)
    section = SectionBlock(text=MarkdownTextObject(text=shorten(text, limits.SECTION_TEXT)))
    return Message(text=text, blocks=[section.to_dict()])


async def show_decided(
    client: AsyncWebClient, edits: MessageEdits | None, request: ApprovalRequest
) -> None:
    """Edit the request's message in place (any process may: it is found by its channel and
    ts in the database), once."""
    ts = request.message_ts
    if not ts or not request.channel:
        return
    message = decided_message(request)

    async def send() -> None:
        await client.chat_update(
            channel=request.channel, ts=ts, text=message.text, blocks=message.blocks
        )

    try:
        if edits is None:
            await send()
        else:
            await edits.edit(f"approval:{request.ref}", DECIDED_VERSION, send)
    except Exception:
        log.exception("could not update the approval request's message (ref %s)", request.ref)


# --- expiring ----------------------------------------------------------------------------------


async def expire(
    approvals: ApprovalStore,
    audit: Auditor,
    client: AsyncWebClient,
    edits: MessageEdits | None,
    request: ApprovalRequest,
    now: datetime,
) -> bool:
    """Mark it expired (if nobody decided it first), edit its message, audit it `expired` under
    its ref; True for the one caller that expired it."""
    if not await approvals.decide(request.ref, "expired", "", now):
        return False
    expired = await approvals.get(request.ref) or request
    await show_decided(client, edits, expired)
    try:
        await audit.record(
            user=request.requester,
            team=request.team,
            channel=request.channel,
            command=request.word,
            outcome="expired",
            target=request.target,
            detail=f"nobody approved it by {at_time(request.expires_at)}",
            correlation_id=request.ref,
        )
    except Exception:
        log.exception("could not write the audit entry (ref %s)", request.ref)
    return True


async def sweep(
    approvals: ApprovalStore, audit: Auditor, client: AsyncWebClient, edits: MessageEdits | None
) -> int:
    """Expire every pending request whose time is up; how many this process expired."""
    expired = 0
    for request in await approvals.due(utc_now()):
        expired += await expire(approvals, audit, client, edits, request, utc_now())
    if expired:
        log.info("expired %d approval request%s", expired, "" if expired == 1 else "s")
    return expired


class ApprovalExpiry:
    """The leading clock's job: expire every pending request whose time is up."""

    def __init__(self, settings: Settings) -> None:
        token = settings.slack_bot_token
        self.web = slack_client(
            token.get_secret_value() if token else None, str(settings.slack_api_url)
        )
        self.approvals = ApprovalStore(settings.database_url)
        self.store = AuditStore(settings.database_url)
        self.audit = auditor(settings, self.web, self.store)
        self.edits = MessageEdits(settings.database_url)

    async def run(self) -> int:
        """One round; how many requests it expired."""
        return await sweep(self.approvals, self.audit, self.web, self.edits)

    async def close(self) -> None:
        await self.edits.close()
        self.store.close()
        self.approvals.close()


def job_stores() -> dict[str, MemoryJobStore]:
    return {JOB_STORE: MemoryJobStore()}


def schedule_expiry(scheduler: BaseScheduler, expiry: ApprovalExpiry) -> None:
    """Run `expiry` every EVERY_SECONDS while this clock leads (from the job store JOB_STORE,
    a `MemoryJobStore` the scheduler was made with: see `job_stores`)."""
    _quiet_rounds()
    scheduler.add_job(
        expiry.run,
        IntervalTrigger(seconds=EVERY_SECONDS),
        id=JOB_ID,
        name="approval expiry",
        jobstore=JOB_STORE,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(EVERY_SECONDS * 5),
        next_run_time=utc_now(),
    )


def _quiet_rounds() -> None:
    """APScheduler logs each run of a job at INFO: for a round every few seconds that is noise
    (what a round does is logged here)."""
    executor_log = logging.getLogger("apscheduler.executors.default")
    if not any(isinstance(f, _NotExpiryRounds) for f in executor_log.filters):
        executor_log.addFilter(_NotExpiryRounds())


class _NotExpiryRounds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(getattr(arg, "id", None) == JOB_ID for arg in args)
