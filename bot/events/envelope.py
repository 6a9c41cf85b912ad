"""What a conferencing node POSTs to an event sink (real-node-facts §6): a v1 or v2 envelope,
or a bulk delivery (`eventsink_bulk`) whose `data` is an array of complete envelopes.

Only what the bot reads is required: `node`, `seq`, `event` and an object `data`; `time` and
`version` may be missing. Anything else is a `Malformed` event, answered 400.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

BULK = "eventsink_bulk"
SINK_LIFECYCLE = frozenset(
    {"eventsink_started", "eventsink_updated", "eventsink_stopped", "eventsink_ended"}
)


class Malformed(ValueError):
    """Not an event envelope; the message says what is wrong (for the log)."""


@dataclass(frozen=True)
class Event:
    """One event as a node sent it."""

    node: str
    seq: int
    name: str
    time: float
    data: dict[str, Any]
    version: int = 1

    @property
    def conference(self) -> str | None:
        """The conference name it is about (participant events: `conference`; conference
        events: `name`); None for sink lifecycle and media events."""
        if self.name.startswith("participant_"):
            value = self.data.get("conference")
        elif self.name.startswith("conference_"):
            value = self.data.get("name")
        else:
            return None
        return value if isinstance(value, str) and value else None

    @property
    def participant(self) -> str | None:
        value = self.data.get("uuid") if self.name.startswith("participant_") else None
        return value if isinstance(value, str) and value else None


def read(body: bytes) -> list[Event]:
    """The events in one delivery, in the order sent (a bulk delivery's array flattened)."""
    return read_delivery(body)[0]


def read_delivery(body: bytes) -> tuple[list[Event], bool]:
    """The events in one delivery, and whether it was a bulk delivery."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise Malformed("the body is not JSON") from None
    if isinstance(message, dict) and message.get("event") == BULK:
        items = message.get("data")
        if not isinstance(items, list):
            raise Malformed("a bulk delivery's data is not an array")
        return [_event(item) for item in items], True
    return [_event(message)], False


def _event(message: Any) -> Event:
    if not isinstance(message, dict):
        raise Malformed("an envelope is not a JSON object")
    node, seq, name, data = (message.get(key) for key in ("node", "seq", "event", "data"))
    if not isinstance(node, str) or not node:
        raise Malformed("the envelope has no node")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise Malformed("the envelope's seq is not a whole number")
    if not isinstance(name, str) or not name:
        raise Malformed("the envelope names no event")
    if name == BULK:
        raise Malformed("a bulk delivery inside a bulk delivery")
    if not isinstance(data, dict):
        raise Malformed(f"{name}: data is not a JSON object")
    when = message.get("time", 0.0)
    if not _number(when):
        raise Malformed(f"{name}: time is not a number")
    version = message.get("version", 1)
    version = version if isinstance(version, int) and not isinstance(version, bool) else 1
    return Event(node, seq, name, float(when), data, version)


def _number(value: Any) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value)
