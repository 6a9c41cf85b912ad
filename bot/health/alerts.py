"""What the clock posts to OPS_CHANNEL after a poll, decided from what it remembers.

`plan` is pure: given the remembered entries (`bot.health.store`) and this poll's reading (or
the error that stopped it), it returns the steps to take, each a Slack message and what to
remember. Rules (INTERFACE §9):

- an alarm is posted once when first seen, and that message is edited when it clears;
- a licence kind at or above the alert share is posted once, and re-armed (its message edited)
  when it falls 5 points below;
- a node entering or leaving maintenance mode is posted; a node out of sync is posted once,
  and that message is edited when it is back in sync;
- a poll the node does not answer posts one "cannot reach" message, edited when it answers.

A node seen for the first time is only remembered (its maintenance state was not a change).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.backup.notify import human_duration
from bot.health.nodes import Alarm, Health, LicenceUse, WorkerNode
from bot.health.render import alarm_line
from bot.slack.limits import SECTION_TEXT, clip
from bot.slack.mrkdwn import literal, render

REARM_POINTS = 5
REACHABILITY = ("unreachable", "node")

Key = tuple[str, str]
"""(kind, key): kind is "alarm", "licence", "node" (last state), "sync" or "unreachable"."""


@dataclass(frozen=True)
class Entry:
    """One remembered thing: an open alert with its Slack message, or a node's last state."""

    kind: str
    key: str
    data: dict[str, Any]
    since: datetime
    channel: str | None = None
    ts: str | None = None


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class Post:
    """Post `message`; remember `data` under (kind, key) with the message (`keep`), or, for a
    one-off notice, only `data` (e.g. a node's new maintenance state)."""

    kind: str
    key: str
    message: Message
    data: dict[str, Any]
    keep: bool = True


@dataclass(frozen=True)
class Close:
    """Edit the remembered message into `message` (post it anew if it was never stored),
    then forget the entry."""

    entry: Entry
    message: Message


@dataclass(frozen=True)
class Remember:
    """Store `data` under (kind, key) without posting (a node seen for the first time)."""

    kind: str
    key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Forget:
    entry: Entry


Step = Post | Close | Remember | Forget


def plan(
    entries: Mapping[Key, Entry],
    reading: Health | str,
    now: datetime,
    alert_percent: int,
) -> list[Step]:
    """The steps after one poll; `reading` is the poll, or why the node could not be read."""
    if isinstance(reading, str):
        if REACHABILITY in entries:
            return []
        return [Post(*REACHABILITY, unreachable_message(reading), {"reason": reading})]
    steps: list[Step] = []
    if REACHABILITY in entries:
        steps.append(Close(entries[REACHABILITY], reachable_message(entries[REACHABILITY], now)))
    steps += _alarms(entries, reading.alarms, now)
    steps += _licences(entries, reading.licences, alert_percent, now)
    steps += _nodes(entries, reading.nodes, now)
    return steps


def _of(entries: Mapping[Key, Entry], kind: str) -> dict[str, Entry]:
    return {key: entry for (k, key), entry in entries.items() if k == kind}


# --- alarms --------------------------------------------------------------------------------


def _alarms(entries: Mapping[Key, Entry], alarms: list[Alarm], now: datetime) -> list[Step]:
    known = _of(entries, "alarm")
    current = {alarm.key: alarm for alarm in alarms}
    steps: list[Step] = [
        Post("alarm", key, alarm_message(alarm, now), alarm_data(alarm))
        for key, alarm in current.items()
        if key not in known
    ]
    steps += [
        Close(entry, cleared_message(entry, now))
        for key, entry in known.items()
        if key not in current
    ]
    return steps


def alarm_data(alarm: Alarm) -> dict[str, Any]:
    return alarm.model_dump(mode="json")


def alarm_message(alarm: Alarm, now: datetime) -> Message:
    line = alarm_line(alarm, now, dated=True).removeprefix("• ")
    return _message(f":rotating_light: *Alarm raised* · {line}", "Alarm raised", alarm)


def cleared_message(entry: Entry, now: datetime) -> Message:
    alarm = Alarm.model_validate(entry.data)
    took = human_duration(now - (alarm.time_raised or entry.since))
    line = alarm_line(alarm, now, dated=True).removeprefix("• ")
    return _message(
        f":white_check_mark: *Alarm cleared* after {took} · {line}", "Alarm cleared", alarm
    )


def _message(text: str, lead: str, alarm: Alarm) -> Message:
    fallback = render(
        "{lead}: {level} {name} {node}",
        lead=lead,
        level=_clipped(alarm.level, 20),
        name=_clipped(alarm.name, 150),
        node=_clipped(alarm.node, 45),
    )
    return Message(fallback.strip(), [_section(text)])


# --- licences ------------------------------------------------------------------------------


def _licences(
    entries: Mapping[Key, Entry], uses: list[LicenceUse], alert_percent: int, now: datetime
) -> list[Step]:
    known = _of(entries, "licence")
    share = {use.kind: use for use in uses}
    steps: list[Step] = []
    for use in uses:
        if use.kind not in known and use.percent >= alert_percent:
            data = {"count": use.count, "total": use.total, "percent": use.percent}
            steps.append(Post("licence", use.kind, licence_message(use, alert_percent), data))
    for kind, entry in known.items():
        use = share.get(kind, LicenceUse(kind, 0, 0))
        if use.percent < alert_percent - REARM_POINTS:
            steps.append(Close(entry, licence_back_message(entry, use, now)))
    return steps


def licence_message(use: LicenceUse, alert_percent: int) -> Message:
    text = (
        f":warning: *{use.label} licences at {use.percent:.0f}%*: {use.count} of {use.total} "
        f"in use (alert at {alert_percent}%)."
    )
    return Message(_plain(text), [_section(text)])


def licence_back_message(entry: Entry, use: LicenceUse, now: datetime) -> Message:
    peak = float(entry.data.get("percent", 0.0))
    text = (
        f":white_check_mark: *{use.label} licences back to {use.percent:.0f}%* "
        f"({use.count} of {use.total} in use) after {human_duration(now - entry.since)} "
        f"at or above the alert share (it was {peak:.0f}% when alerted)."
    )
    return Message(_plain(text), [_section(text)])


# --- Conferencing Nodes ----------------------------------------------------------------------


def _nodes(entries: Mapping[Key, Entry], nodes: list[WorkerNode], now: datetime) -> list[Step]:
    known, out_of_sync = _of(entries, "node"), _of(entries, "sync")
    steps: list[Step] = []
    current = {node.key: node for node in nodes}
    for key, node in current.items():
        seen = known.get(key)
        state = node_data(node)
        if seen is None:
            steps.append(Remember("node", key, state))
        elif bool(seen.data.get("maintenance")) != node.maintenance_mode:
            steps.append(Post("node", key, maintenance_message(node), state, keep=False))
        if node.synced is False and key not in out_of_sync:
            steps.append(Post("sync", key, sync_lost_message(node), state))
        elif node.synced is True and key in out_of_sync:
            steps.append(Close(out_of_sync[key], sync_back_message(node, out_of_sync[key], now)))
    for key, entry in known.items():
        if key not in current:
            steps.append(Forget(entry))
    for key, entry in out_of_sync.items():
        if key not in current:
            steps.append(Close(entry, node_gone_message(entry)))
    return steps


def node_data(node: WorkerNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "location": node.system_location,
        "maintenance": node.maintenance_mode,
        "sync_status": node.sync_status,
    }


def _node_words(name: str, location: str) -> str:
    where = f" ({_field(location)})" if location else ""
    return f"*{_field(name or '?')}*{where}"


def maintenance_message(node: WorkerNode) -> Message:
    who = _node_words(node.name, node.system_location)
    if node.maintenance_mode:
        reason = node.maintenance_mode_reason
        why = f": {_field(reason, 250)}" if reason else ""
        text = f":construction: {who} entered maintenance mode{why}. It takes no new conferences."
    else:
        text = f":white_check_mark: {who} left maintenance mode: it takes conferences again."
    return Message(_plain(text), [_section(text)])


def sync_lost_message(node: WorkerNode) -> Message:
    who = _node_words(node.name, node.system_location)
    text = f":x: {who} is not in sync with the management node: {_field(node.sync_status)}."
    return Message(_plain(text), [_section(text)])


def sync_back_message(node: WorkerNode, entry: Entry, now: datetime) -> Message:
    who = _node_words(node.name, node.system_location)
    was = _field(str(entry.data.get("sync_status", "")))
    text = (
        f":white_check_mark: {who} is back in sync after {human_duration(now - entry.since)} "
        f"(it was {was})."
    )
    return Message(_plain(text), [_section(text)])


def node_gone_message(entry: Entry) -> Message:
    who = _node_words(str(entry.data.get("name", "")), str(entry.data.get("location", "")))
    text = f":grey_question: {who} was out of sync and is no longer listed by the management node."
    return Message(_plain(text), [_section(text)])


# --- reachability --------------------------------------------------------------------------


def unreachable_message(reason: str) -> Message:
    text = (
        f":red_circle: *Cannot reach the management node* ({_field(reason, 300)}). "
        "Health alerts are paused until it answers."
    )
    return Message(_plain(text), [_section(text)])


def reachable_message(entry: Entry, now: datetime) -> Message:
    text = (
        f":white_check_mark: *The management node answers again* after "
        f"{human_duration(now - entry.since)} without an answer "
        f"(it was: {_field(str(entry.data.get('reason', '')), 300)})"
    )
    return Message(_plain(text), [_section(text)])


# --- shapes --------------------------------------------------------------------------------


def _field(text: str, limit: int = 80) -> str:
    """Text the node wrote, cut to `limit` (marked with `…`) and made literal."""
    return literal(_clipped(text, limit))


def _clipped(text: str, limit: int) -> str:
    return clip(text, limit)


def _plain(mrkdwn: str) -> str:
    """The notification fallback: the same words without emoji codes or bold marks."""
    words = mrkdwn.replace("*", "")
    if words.startswith(":"):
        words = words.split(" ", 1)[1] if " " in words else words
    return clip(words, 3000)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}
