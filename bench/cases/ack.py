"""Acknowledgement latency: signed slash commands to `pexbot serve`, timed from sending the
request to its HTTP 200, at each concurrency (each a fixed number of commands in flight)."""

from __future__ import annotations

import asyncio

from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import Stack
from bench.stats import latency_ms, ms, percentile

TITLE = "Acknowledgement latency (mute/unmute by id, PEXIP_MAX_CONCURRENCY=1)"
TARGET_CONCURRENCY = 50
TARGET_P99_MS = 50.0


def add_cpu(result: CaseResult, concurrency: int, seconds: float | None, acks: int) -> None:
    """The server's CPU time per acknowledgement at this concurrency (its figure's key)."""
    if seconds is not None and acks:
        key = f"c{concurrency}_cpu_us_per_ack"
        label = f"c={concurrency}: server CPU per ack"
        result.add(key, label, round(seconds / acks * 1e6, 1), "µs")


async def _level(
    stack: Stack, plan: Plan, concurrency: int, result: CaseResult, server: int
) -> None:
    await stack.drive(stack.mute_texts(plan.warmup), concurrency, plan.outcome_timeout)
    stack.fixtures.forget()
    drive = await stack.drive(
        stack.mute_texts(plan.ack_commands), concurrency, plan.outcome_timeout, server
    )
    acks = latency_ms(drive.acks)
    for name in ("p50_ms", "p95_ms", "p99_ms"):
        label = f"c={concurrency}: ack {name.split('_')[0]}"
        result.add(f"c{concurrency}_{name}", label, acks[name], "ms")
    first = min(s.sent_at for s in drive.sent)
    last = max(s.sent_at + s.ack_seconds for s in drive.sent)
    result.add(
        f"c{concurrency}_acks_per_s",
        f"c={concurrency}: acks per second",
        round(len(drive.sent) / (last - first), 1),
        "/s",
    )
    result.add(
        f"c{concurrency}_outcome_p50_ms",
        f"c={concurrency}: outcome posted p50 (queued)",
        ms(percentile(drive.end_to_end, 50)),
        "ms",
    )
    result.add(f"c{concurrency}_failed", f"c={concurrency}: commands failed", drive.failures)
    add_cpu(result, concurrency, drive.server_cpu, len(drive.sent))


def run(stack: Stack, plan: Plan) -> CaseResult:
    bot = stack.bot(max_concurrency=1)
    result = CaseResult("ack", TITLE)
    for concurrency in plan.ack_concurrency:
        asyncio.run(_level(stack, plan, concurrency, result, bot.pid))
        stack.fixtures.forget()
    figures = {f.key: f.value for f in result.figures}
    p99 = figures.get(f"c{TARGET_CONCURRENCY}_p99_ms")
    if isinstance(p99, float):
        result.judge(
            f"ack p99 at concurrency {TARGET_CONCURRENCY}",
            f"≤ {TARGET_P99_MS:g} ms",
            f"{p99:g} ms",
            p99 <= TARGET_P99_MS,
        )
    result.notes.append(
        f"{plan.ack_commands} commands per level after {plan.warmup} warm-up; the bench sends the "
        "next command as soon as an ack returns, so the outcome messages queue behind the "
        "node's concurrency cap (the 'outcome posted' row). Server CPU per ack: the `pexbot "
        "serve` process's CPU time (/proc, every thread) from the first command sent to the "
        "last acknowledged, over the commands: it includes whatever the queued commands did "
        "meanwhile."
    )
    return result
