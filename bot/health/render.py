"""`/pexip status` as one Slack message: the management node, each Conferencing Node, licence
use and the active alarms.

It must fit Slack's limits whatever the node holds (50 blocks, 3,000 characters a section): lines
are packed into sections, a long line is cut with `…`, and nodes or alarms beyond what is shown
are summarised in a line that says how many and what they hold, never dropped silently. Nodes
that need attention (maintenance, out of sync, upgrading) and the most severe alarms come first.
Everything the node wrote is made literal (`bot.slack.mrkdwn`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.backup.notify import human_duration
from bot.health.nodes import Alarm, LicenceUse, Status, WorkerNode, build_of
from bot.slack.limits import SECTION_TEXT, clip, units
from bot.slack.mrkdwn import literal, render

MAX_NODES = 50
MAX_ALARMS = 20
FIELD = 80
"""Characters kept of a name, location or reason the node wrote (cut with `…`, made literal)."""
ALARM_DETAILS = 200
SECTIONS_PER_PART = 8
"""At most this many sections for the nodes, and as many for the alarms (50 blocks in all)."""

LEVELS = {"critical": 0, "error": 1, "warning": 2}


def render_status(status: Status, alert_percent: int) -> tuple[str, list[dict[str, Any]]]:
    """(plain-text fallback, blocks) for `/pexip status`."""
    health = status.health
    blocks = [_header("Pexip Infinity status"), _section(_management(status))]
    blocks += [_section(text) for text in _packed(_node_lines(status))]
    blocks.append(_section(_licences(health.licences, alert_percent)))
    blocks += [_section(text) for text in _packed(_alarm_lines(health.alarms, health.read_at))]
    return _fallback(status), blocks


def _management(status: Status) -> str:
    node = status.management
    name = f"`{_field(node.name)}`" if node.name else "the management node"
    return f"*Management node* {name} · version {_field(node.version or 'unknown')}"


# --- Conferencing Nodes ------------------------------------------------------------------


def _node_lines(status: Status) -> list[str]:
    nodes = status.health.nodes
    if not nodes:
        return ["*Conferencing nodes*: none listed"]
    shown = _chosen(nodes)
    platform = build_of(status.management.version)
    lines = [f"*Conferencing nodes* ({len(nodes)})"]
    lines += [_node_line(node, platform) for node in shown]
    listed = {id(node) for node in shown}
    rest = [node for node in nodes if id(node) not in listed]
    if rest:
        lines.append(_nodes_summary(rest))
    return lines


def _chosen(nodes: list[WorkerNode]) -> list[WorkerNode]:
    """Up to MAX_NODES, those needing attention first; shown by location and name."""
    ranked = sorted(nodes, key=lambda node: (not node.needs_attention, -node.media_load))
    return sorted(ranked[:MAX_NODES], key=lambda node: (node.system_location, node.name))


def _node_line(node: WorkerNode, platform_build: str | None) -> str:
    where = f" · {_field(node.system_location)}" if node.system_location else ""
    kind = " (proxying)" if node.proxying else ""
    facts = [f"load {node.media_load}%"]
    if node.maintenance_mode:
        reason = node.maintenance_mode_reason
        reason = f": {_field(reason)}" if reason else ""
        facts.append(f":construction: *maintenance mode*{reason}")
    facts.append(_sync_words(node))
    if node.upgrading:
        facts.append(f"upgrade {_field(node.upgrade_status)}")
    build = build_of(node.version)
    if platform_build and build and build != platform_build:
        facts.append(f":warning: version {_field(node.version)}")
    return f"• `{_field(node.name or '?')}`{kind}{where} · " + " · ".join(facts)


def _field(text: str, limit: int = FIELD) -> str:
    """Text the node wrote, cut to `limit` (marked with `…`) and made literal."""
    return literal(clip(text, limit))


def _sync_words(node: WorkerNode) -> str:
    if node.synced is None:
        return "sync state unknown"
    return "in sync" if node.synced else f":x: *not in sync* ({_field(node.sync_status)})"


def _nodes_summary(rest: list[WorkerNode]) -> str:
    maintenance = sum(1 for node in rest if node.maintenance_mode)
    unsynced = sum(1 for node in rest if node.synced is False)
    top = max(node.media_load for node in rest)
    return (
        f"…and {len(rest)} more nodes not listed: {maintenance} in maintenance, "
        f"{unsynced} not in sync, load at most {top}%"
    )


# --- licences ----------------------------------------------------------------------------


def _licences(uses: list[LicenceUse], alert_percent: int) -> str:
    if not uses:
        return "*Licences*: none licensed"
    parts = []
    for use in uses:
        mark = ":warning: " if use.percent >= alert_percent else ""
        parts.append(f"{mark}{use.label} {use.percent:.0f}% ({use.count} of {use.total})")
    return "*Licences in use*: " + " · ".join(parts)


# --- alarms ------------------------------------------------------------------------------


def _alarm_lines(alarms: list[Alarm], now: datetime) -> list[str]:
    if not alarms:
        return ["*Active alarms*: none :white_check_mark:"]
    ranked = sorted(alarms, key=_severity)
    shown, rest = ranked[:MAX_ALARMS], ranked[MAX_ALARMS:]
    lines = [f"*Active alarms* ({len(alarms)})"]
    lines += [alarm_line(alarm, now) for alarm in shown]
    if rest:
        lines.append(_alarms_summary(rest))
    return lines


def _severity(alarm: Alarm) -> tuple[int, float]:
    raised = alarm.time_raised.timestamp() if alarm.time_raised else 0.0
    return (LEVELS.get(alarm.level.lower(), len(LEVELS)), -raised)


def alarm_line(alarm: Alarm, now: datetime, *, dated: bool = False) -> str:
    """e.g. "• *error* · Node lost contact · on 10.0.1.11 · raised 12 min ago: details";
    `dated`: when it was raised as a date (for a message that stays in a channel)."""
    level = f"*{_field(alarm.level, 20)}*" if alarm.level else "*alarm*"
    where = f" · on {_field(alarm.node, 45)}" if alarm.node else ""
    instance = f" ({_field(alarm.instance)})" if alarm.instance else ""
    details = f": {_field(alarm.details, ALARM_DETAILS)}" if alarm.details else ""
    name = _field(alarm.name or "unnamed alarm", 150)
    raised = raised_words(alarm, now, dated=dated)
    return f"• {level} · {name}{instance}{where} · {raised}{details}"


def raised_words(alarm: Alarm, now: datetime, *, dated: bool = False) -> str:
    raised = alarm.time_raised
    if raised is None:
        return "raised at an unknown time"
    if dated:  # Slack shows it in each reader's own time zone
        fallback = raised.strftime("%Y-%m-%d %H:%M UTC")
        return f"raised <!date^{int(raised.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
    return f"raised {human_duration(now - raised)} ago"


def _alarms_summary(rest: list[Alarm]) -> str:
    levels: dict[str, int] = {}
    for alarm in rest:
        levels[alarm.level or "no level"] = levels.get(alarm.level or "no level", 0) + 1
    counted = ", ".join(f"{count} {_field(level, 20)}" for level, count in levels.items())
    return f"…and {len(rest)} more alarms not listed ({counted}); see the Admin UI"


# --- layout ------------------------------------------------------------------------------


def _packed(lines: Iterable[str]) -> list[str]:
    """Lines joined into section texts of at most SECTION_TEXT characters each; past
    SECTIONS_PER_PART sections the rest is counted in the last one, not dropped."""
    room = SECTION_TEXT - 100  # leaves space for the "…and N more lines" count
    sections: list[list[str]] = [[]]
    used = 0
    pending = list(lines)
    for index, line in enumerate(pending):
        size = units(line) + (1 if sections[-1] else 0)
        if used + size > room and sections[-1]:
            if len(sections) == SECTIONS_PER_PART:
                sections[-1].append(f"…and {len(pending) - index} more lines not shown")
                break
            sections.append([])
            size, used = units(line), 0
        sections[-1].append(line)
        used += size
    return ["\n".join(section) for section in sections]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _fallback(status: Status) -> str:
    health = status.health
    licences = ", ".join(f"{use.label} {use.percent:.0f}%" for use in health.licences)
    return render(
        "Pexip status: version {version}; {nodes} conferencing nodes ({maintenance} in "
        "maintenance, {unsynced} not in sync); {alarms} active alarms; licences in use: {licences}",
        version=clip(status.management.version or "unknown", FIELD),
        nodes=len(health.nodes),
        maintenance=sum(1 for node in health.nodes if node.maintenance_mode),
        unsynced=sum(1 for node in health.nodes if node.synced is False),
        alarms=len(health.alarms),
        licences=licences or "none licensed",
    )
