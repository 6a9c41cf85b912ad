"""The cases, in the order a full run takes them (`--cases` picks some, in this order)."""

from __future__ import annotations

from collections.abc import Callable

from bench.cases import (
    ack,
    backup,
    baseline,
    busy,
    e2e,
    events,
    inflight,
    several,
    startup,
    vendor,
)
from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import Stack

Case = Callable[[Stack, Plan], CaseResult]

CASES: dict[str, Case] = {
    "startup": startup.run,
    "ack": ack.run,
    "baseline": baseline.run,
    "e2e": e2e.run,
    "vendor": vendor.run,
    "inflight": inflight.run,
    "backup": backup.run,
    "busy": busy.run,
    "events": events.run,
    "several": several.run,
}
