"""Percentiles and the small summaries every case reports."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): a value that was actually measured."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def latency_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max of `samples` (seconds), in milliseconds."""
    return {
        "p50_ms": ms(percentile(samples, 50)),
        "p95_ms": ms(percentile(samples, 95)),
        "p99_ms": ms(percentile(samples, 99)),
        "max_ms": ms(max(samples)),
    }


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def mib(kib: int) -> float:
    return round(kib / 1024, 1)
