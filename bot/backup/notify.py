"""The backup notification: one Slack message per run, in BACKUP_CHANNEL.

`render_report` gives the plain-text fallback and the Block Kit blocks, every name and node word
in them made literal by `bot.slack.mrkdwn.literal`; `summary` is the same one-line account without
Slack escaping, for `pexbot backup run`. `notify` posts it, retrying
429 (after Retry-After) and 500/503 (with backoff) as Slack advises, and returns False with an
error log if it could not: a lost notification must not hide the backup's own outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.backup.report import BackupReport
from bot.slack.client import retry_handlers
from bot.slack.mrkdwn import Mrkdwn, literal, mention, shorten

log = logging.getLogger(__name__)

RETRY_ACTION_ID = "backup_retry"
RETRY_VALUE = json.dumps({"c": "backup now"})

STEP_WORDS = {
    "create": "creating the backup",
    "wait": "waiting for the backup file",
    "download": "downloading the backup file",
    "prune": "pruning old backups",
}
MAX_LISTED = 10
SECTION_LIMIT = 2900  # Slack refuses a section text over 3000 characters
FIELD_LIMIT = 2000  # and a section field over 2000

Escape = Callable[[str], str]


def _plain(text: str) -> str:
    return text


# --- words -------------------------------------------------------------------------------


def human_size(size: int) -> str:
    """Decimal units, as file managers show them: 9369536 → "9.4 MB"."""
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 999.95 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def human_duration(span: timedelta) -> str:
    """Two units at most: "0.4 s", "14 s", "2 min 5 s", "3 h 4 min", "2 d 1 h"."""
    seconds = max(0.0, span.total_seconds())
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    for big, big_name, small, small_name in (
        (86400, "d", 3600, "h"),
        (3600, "h", 60, "min"),
        (60, "min", 1, "s"),
    ):
        if whole >= big:
            rest = (whole % big) // small
            return f"{whole // big} {big_name}" + (f" {rest} {small_name}" if rest else "")
    return f"{whole} s"


def summary(report: BackupReport, esc: Escape = _plain) -> str:
    """One line: what happened, where the file is, what was pruned; e.g. for the CLI."""
    if report.succeeded:
        line = f"{_title(report)} succeeded{_late_note(report)}: {_file_words(report, esc)}"
        return f"{line}, {_stored_words(report, esc)}. {_pruned_words(report, esc)}"
    step = STEP_WORDS.get(report.failed_step or "", "running")
    line = f"{_title(report)} failed{_late_note(report)} while {step}: {esc(report.reason)}"
    if report.failed_step == "prune" and report.filename:
        line += f" The backup itself was made: {_file_words(report, esc)}, "
        line += f"{_stored_words(report, esc)}."
    elif report.filename:
        line += f" The backup file {esc(report.filename)} is on the management node."
    return f"{line} {_pruned_words(report, esc)}"


def _title(report: BackupReport) -> str:
    if report.trigger == "schedule":
        return "Scheduled backup"
    if report.requested_by:
        return f"Backup requested by {mention(report.requested_by)}"
    return "Backup run from the command line" if report.trigger == "cli" else "Backup"


def _late_note(report: BackupReport) -> str:
    words = _late_words(report)
    return f" ({words})" if words else ""


def _late_words(report: BackupReport) -> str:
    """e.g. "started 3 h 4 min late: the 2026-05-02 02:00 BST run was missed"."""
    if report.late_by is None or report.scheduled_for is None:
        return ""
    when = report.scheduled_for.strftime("%Y-%m-%d %H:%M %Z")
    return f"started {human_duration(report.late_by)} late: the {when} run was missed"


def _file_words(report: BackupReport, esc: Escape) -> str:
    size = f" ({human_size(report.size)})" if report.size is not None else ""
    return f"{esc(report.filename or '?')}{size} in {human_duration(report.duration)}"


def _stored_words(report: BackupReport, esc: Escape) -> str:
    if report.stored_at is None:
        return "stored nowhere"
    where = f"stored on {esc(report.stored_at.node)}"
    if report.stored_at.local_path is not None:
        where += f" and in {esc(str(report.stored_at.local_path))}"
    return where


def _pruned_words(report: BackupReport, esc: Escape) -> str:
    node, local = len(report.pruned_node), len(report.pruned_local)
    if not node and not local and report.trigger == "manual":
        return "Nothing was pruned: old backups are pruned only by the nightly job."
    if not node and not local:
        return "Nothing was pruned."
    parts = [f"{node} from the node"] if node else []
    if local:
        parts.append(f"{local} from the download folder")
    return f"Pruned {_plural(node + local, 'old backup')}: {' and '.join(parts)}."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- blocks ------------------------------------------------------------------------------


def render_report(report: BackupReport) -> tuple[Mrkdwn, list[dict[str, Any]]]:
    """(plain-text fallback, Block Kit blocks as dicts) for one run."""
    blocks: list[Block] = [_section(_headline(report))]
    late = _late_words(report)
    if late:
        blocks.append(_section(f":warning: {late[:1].upper()}{late[1:]}."))
    if report.stored_at is not None:
        blocks.append(SectionBlock(fields=_detail_fields(report)))
    blocks.append(_section(_pruned_detail(report)))
    if not report.succeeded:
        blocks.append(ActionsBlock(elements=[_retry_button()]))
    context = shorten(Mrkdwn(_context(report)), 3000)
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    # rendered: every outside value in the summary went through `literal` (its `esc`)
    return Mrkdwn(summary(report, literal), summary(report)), [b.to_dict() for b in blocks]


def _section(text: str) -> SectionBlock:
    # rendered: every outside value in it went through `literal`
    return SectionBlock(text=MarkdownTextObject(text=shorten(Mrkdwn(text), SECTION_LIMIT)))


def _headline(report: BackupReport) -> str:
    if report.succeeded:
        return (
            f":white_check_mark: *{_title(report)} succeeded*: "
            f"`{literal(report.filename or '?')}`"
            + (f" ({human_size(report.size)})" if report.size is not None else "")
            + f" in {human_duration(report.duration)}."
        )
    step = STEP_WORDS.get(report.failed_step or "", "running")
    return f":x: *{_title(report)} failed* while {step}.\n{literal(report.reason)}"


def _detail_fields(report: BackupReport) -> list[MarkdownTextObject]:
    assert report.stored_at is not None
    stored = f"*Stored*\nmanagement node `{literal(report.stored_at.node)}`"
    if report.stored_at.local_path is not None:
        stored += f"\n`{literal(str(report.stored_at.local_path))}`"
    fields = [MarkdownTextObject(text=shorten(Mrkdwn(stored), FIELD_LIMIT))]
    if report.failed_step == "prune" or not report.succeeded:
        file = f"*File*\n`{literal(report.filename or '?')}`"
        fields.append(MarkdownTextObject(text=shorten(Mrkdwn(file), FIELD_LIMIT)))
    if report.sha256:
        fields.append(MarkdownTextObject(text=f"*SHA-256*\n`{report.sha256}`"))
    return fields


def _pruned_detail(report: BackupReport) -> str:
    if not report.pruned_node and not report.pruned_local:
        kept = "" if report.succeeded else " (pruning happens only after a successful run)"
        if report.trigger == "manual":
            kept = " (old backups are pruned only by the nightly job)"
        return f"*Pruned:* nothing{kept}"
    lines = ["*Pruned:*"]
    for label, names in (("from the node", report.pruned_node), ("locally", report.pruned_local)):
        if names:
            lines.append(f"{_plural(len(names), 'file')} {label}: {_listed(names)}")
    return "\n".join(lines)


def _listed(names: tuple[str, ...]) -> str:
    shown = ", ".join(f"`{literal(name)}`" for name in names[:MAX_LISTED])
    more = len(names) - MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _retry_button() -> ButtonElement:
    return ButtonElement(
        text="Retry now", action_id=RETRY_ACTION_ID, value=RETRY_VALUE, style="primary"
    )


def _context(report: BackupReport) -> str:
    fallback = report.started_at.strftime("%Y-%m-%d %H:%M:%S %Z")
    # Slack shows this in each reader's own time zone
    stamp = int(report.started_at.timestamp())
    started = f"<!date^{stamp}^{{date_short_pretty}} {{time_secs}}|{fallback}>"
    took = human_duration(report.duration)
    how = {"schedule": "Scheduled run", "manual": "Run from Slack", "cli": "Run from the CLI"}
    return f"{how[report.trigger]} · started {started} · took {took}"


# --- posting -----------------------------------------------------------------------------


async def notify(client: AsyncWebClient, channel: str, report: BackupReport) -> bool:
    """Post the report to `channel`; False (and an error log) if Slack would not take it."""
    text, blocks = render_report(report)
    try:
        await _retrying(client).chat_postMessage(
            channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
        )
    except SlackApiError as exc:
        status = getattr(exc.response, "status_code", "?")
        error = exc.response.get("error") if exc.response is not None else None
        log.error("backup notification to %s not posted: HTTP %s %s", channel, status, error or "")
        return False
    except Exception as exc:  # connection refused, timeout...: the run's outcome still stands
        log.error("backup notification to %s not posted: %s: %s", channel, type(exc).__name__, exc)
        return False
    return True


def _retrying(client: AsyncWebClient) -> AsyncWebClient:
    """`client` if it already retries 429 and 5xx, else a twin of it that does."""
    kinds = {type(handler) for handler in client.retry_handlers}
    if {AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler} <= kinds:
        return client
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        session=client.session,
        trust_env_in_session=client.trust_env_in_session,
        headers=dict(client.headers),
        retry_handlers=[h for h in retry_handlers() if type(h) not in kinds]
        + list(client.retry_handlers),
    )
