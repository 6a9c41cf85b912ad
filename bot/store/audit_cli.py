"""`pexbot audit [--json] [--limit N] [--since ISO8601]`: the audit log, newest first.

A readable table (rich) by default; with `--json` one object per line (INTERFACE §6) written
straight to the output, unwrapped and uncoloured, for `jq` and scripts.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from datetime import UTC, date, datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.config import ConfigError
from bot.store.audit import AuditEntry, AuditError, AuditStore, Outcome

_OUTCOME_STYLES = {
    Outcome.SUCCESS: "green",
    Outcome.ERROR: "red",
    Outcome.DENIED: "yellow",
    Outcome.INVALID: "magenta",
    Outcome.PENDING: "cyan",
    Outcome.REJECTED: "yellow",
    Outcome.EXPIRED: "dim",
}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = frozenset("\u061c\u200e\u200f\u2028\u2029") | frozenset(
    chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
)


def _unsafe(char: str) -> bool:
    """A character a terminal acts on instead of showing: C0/C1 controls and DEL (escape
    sequences), and the marks that reorder or break the text around them."""
    return unicodedata.category(char) == "Cc" or char in _BIDI


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """Text for the terminal: every control character shown as an escape (`\\x1b`, `\\n`,
    `\\u202e`), never sent raw."""
    return "".join(_escaped(char) if _unsafe(char) else char for char in text)


def parse_since(text: str) -> datetime:
    """ISO 8601 with `Z` or an offset; a time without either, or a bare date, is taken as UTC."""
    value = text.strip()
    try:
        if _DATE_ONLY.match(value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since: {text!r} is not an ISO 8601 time, "
            "e.g. 2026-11-22T10:15:00Z or 2026-11-22T11:15:00+01:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_audit_cli(
    database_url: str,
    *,
    as_json: bool,
    limit: int,
    since: datetime | None,
    console: Console | None = None,
) -> int:
    """Print the newest `limit` entries; returns the process exit code.

    Problems go to stderr, or to `console` when one is given (tests)."""
    errors = console or Console(stderr=True)
    console = console or Console()
    if limit < 1:
        errors.print("pexbot audit: --limit must be 1 or more", style="red", markup=False)
        return 2
    try:
        entries = _read(database_url, limit, since)
    except (AuditError, ConfigError) as exc:
        errors.print(f"pexbot audit: {exc}", style="red", markup=False, highlight=False)
        return 1
    if as_json:
        _print_json(console, entries)
    else:
        console.print(_table(entries, since))
    return 0


def _read(database_url: str, limit: int, since: datetime | None) -> list[AuditEntry]:
    store = AuditStore(database_url)
    try:
        return asyncio.run(store.recent(limit=limit, since=since))
    finally:
        store.close()


def _print_json(console: Console, entries: list[AuditEntry]) -> None:
    for entry in entries:
        line = json.dumps(entry.as_json(), ensure_ascii=False)  # escapes C0 controls itself
        line = "".join(f"\\u{ord(c):04x}" if _unsafe(c) else c for c in line)  # C1, DEL, bidi
        console.file.write(line + "\n")
    console.file.flush()


def _table(entries: list[AuditEntry], since: datetime | None) -> Table:
    after = f" since {since:%Y-%m-%d %H:%M:%S}Z" if since else ""
    table = Table(
        title=f"Audit log, newest first{after}",
        caption=None if entries else "no audit entries",
        show_lines=False,
    )
    columns = ("At (UTC)", "User", "Channel", "Command", "Target", "Outcome", "Detail", "Ref")
    for name in (*columns, "Approved by"):
        table.add_column(name, overflow="fold")
    for entry in entries:
        style = _OUTCOME_STYLES[entry.outcome]
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            escape(visible(entry.user)),
            escape(visible(entry.channel)),
            escape(visible(entry.command)),
            escape(visible(entry.target)),
            f"[{style}]{entry.outcome.value}[/]",
            escape(visible(entry.detail)),
            escape(visible(entry.correlation_id)),
            escape(visible(entry.approved_by or "")),
        )
    return table
