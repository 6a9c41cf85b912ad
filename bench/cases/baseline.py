"""What pexbot's acknowledgement costs over Bolt's own: a bare `AsyncApp` that only acks
(`bench.baseline_app`), loaded in this run with the same commands and concurrencies as the
`ack` case, its figures under the `ack` case's keys. Targets: pexbot's ack p99 at concurrency
50 at most 1.1x the bare app's, and its acks per second at least 0.9x."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace

from bench.botprocess import REPO, BotProcess, cpu_seconds
from bench.cases import ack
from bench.load import Slash, no_gc_pauses
from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import BENCH_USER, Stack
from bench.stats import latency_ms

TITLE = "Baseline: a bare Bolt AsyncApp that only acks (same server stack, same load)"
LEVEL = ack.TARGET_CONCURRENCY
MOST_P99 = 1.1
LEAST_RATE = 0.9


async def _level(
    stack: Stack, bare: BotProcess, plan: Plan, concurrency: int, result: CaseResult
) -> None:
    async with Slash(
        bare.url, stack.secret, stack.urls.slack_base, BENCH_USER, connections=concurrency
    ) as slash:
        await slash.connect()
        await slash.send_all(stack.mute_texts(plan.warmup), concurrency)
        with no_gc_pauses():
            before = cpu_seconds(bare.pid)
            sent = await slash.send_all(stack.mute_texts(plan.ack_commands), concurrency)
            used = cpu_seconds(bare.pid) - before
    acks = latency_ms([s.ack_seconds for s in sent])
    for name in ("p50_ms", "p95_ms", "p99_ms"):
        result.add(
            f"c{concurrency}_{name}", f"c={concurrency}: ack {name.split('_')[0]}", acks[name], "ms"
        )
    first = min(s.sent_at for s in sent)
    last = max(s.sent_at + s.ack_seconds for s in sent)
    rate = round(len(sent) / (last - first), 1)
    result.add(f"c{concurrency}_acks_per_s", f"c={concurrency}: acks per second", rate, "/s")
    ack.add_cpu(result, concurrency, used, len(sent))


def _pexbot(stack: Stack, plan: Plan) -> dict[str, float]:
    """pexbot's `ack` figures of this run (measured now if the run did not take that case)."""
    measured = stack.results.get("ack") or ack.run(stack, plan)
    return {f.key: f.value for f in measured.figures if isinstance(f.value, float)}


def run(stack: Stack, plan: Plan) -> CaseResult:
    pexbot = _pexbot(stack, plan)
    stack.stop_bot()  # one server at a time on the 2 cores
    config = replace(
        stack.bot_config(1), source=REPO
    )  # this bench's own app, whatever --bot-source
    bare = BotProcess(
        config, stack.workdir, "baseline", [sys.executable, "-m", "bench.baseline_app"]
    )
    bare.start()
    result = CaseResult("baseline", TITLE)
    try:
        for concurrency in plan.ack_concurrency:
            asyncio.run(_level(stack, bare, plan, concurrency, result))
    finally:
        bare.stop()
    figures = {f.key: f.value for f in result.figures}
    p99, rate = f"c{LEVEL}_p99_ms", f"c{LEVEL}_acks_per_s"
    if isinstance(figures.get(p99), float) and p99 in pexbot:
        ratio = pexbot[p99] / float(figures[p99])
        result.judge(
            f"pexbot ack p99 at c={LEVEL} / bare app's",
            f"≤ {MOST_P99:g}x",
            f"{ratio:.2f}x ({pexbot[p99]:g} / {figures[p99]:g} ms)",
            ratio <= MOST_P99,
        )
    if isinstance(figures.get(rate), float) and rate in pexbot:
        ratio = pexbot[rate] / float(figures[rate])
        result.judge(
            f"pexbot acks/s at c={LEVEL} / bare app's",
            f"≥ {LEAST_RATE:g}x",
            f"{ratio:.2f}x ({pexbot[rate]:g} / {figures[rate]:g} /s)",
            ratio >= LEAST_RATE,
        )
    cpu = f"c{LEVEL}_cpu_us_per_ack"
    if isinstance(figures.get(cpu), float) and cpu in pexbot:
        result.add(f"pexbot_{cpu}", f"pexbot: c={LEVEL}: server CPU per ack", pexbot[cpu], "µs")
        result.add(
            f"c{LEVEL}_cpu_ratio",
            f"pexbot's server CPU per ack at c={LEVEL} / bare app's (a figure, not a target)",
            round(pexbot[cpu] / float(figures[cpu]), 2),
            "x",
        )
    result.notes.append(
        "The bare app runs right after pexbot's `ack` case of the same run, with the same "
        "commands, counts and concurrencies; only one of the two serves at a time."
    )
    return result
