"""What pexbot's acknowledgement costs over Bolt's own: a bare `AsyncApp` that only acks
(`bench.baseline_app`), loaded in this run with the same commands. Targets: pexbot's ack p99 at
concurrency 50 at most 1.1x the bare app's, and its acks per second at least 0.9x.

First the bare app's own levels (the `ack` case's commands and concurrencies, its figures under
that case's keys). Then the comparison: both servers running, `plan.baseline_rounds` rounds at
concurrency 50 in turns (pexbot first in even rounds, the bare app first in odd ones), each a
burst of `plan.ack_commands` commands to one of them, pexbot's only once its previous commands
were answered (as the `ack` case waits for them). Measured one after the other, minutes apart,
the two moved 2x from one run to the next on the shared 2-core machine (bench/README.md,
issue 14's rounds); in turns, the machine's drift falls on both alike. The targets are judged on
the rounds' medians, and each round's own ratios are reported."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.botprocess import REPO, BotProcess, cpu_seconds
from bench.cases import ack
from bench.load import Sent, Slash, no_gc_pauses
from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import BENCH_USER, Stack
from bench.stats import latency_ms, median

TITLE = "Baseline: a bare Bolt AsyncApp that only acks (same server stack, same load)"
LEVEL = ack.TARGET_CONCURRENCY
MOST_P99 = 1.1
LEAST_RATE = 0.9


@dataclass(frozen=True)
class Burst:
    p99_ms: float
    acks_per_s: float
    cpu_us_per_ack: float | None


def _burst(sent: list[Sent], cpu: float | None) -> Burst:
    first = min(s.sent_at for s in sent)
    last = max(s.sent_at + s.ack_seconds for s in sent)
    return Burst(
        latency_ms([s.ack_seconds for s in sent])["p99_ms"],
        len(sent) / (last - first),
        None if cpu is None else cpu / len(sent) * 1e6,
    )


async def _send(
    stack: Stack, bare: BotProcess, texts: list[str], concurrency: int, warmup: Sequence[str] = ()
) -> tuple[list[Sent], float]:
    """One burst to the bare app (no outcome to wait for: it only acks), after `warmup` sent
    untimed on the same connections: what was sent, and the server's CPU seconds meanwhile."""
    async with Slash(
        bare.url, stack.secret, stack.urls.slack_base, BENCH_USER, connections=concurrency
    ) as slash:
        await slash.connect()
        await slash.send_all(list(warmup), concurrency)
        with no_gc_pauses():
            before = cpu_seconds(bare.pid)
            sent = await slash.send_all(texts, concurrency)
            return sent, cpu_seconds(bare.pid) - before


async def _bare_burst(stack: Stack, bare: BotProcess, plan: Plan) -> Burst:
    return _burst(*await _send(stack, bare, stack.mute_texts(plan.ack_commands), LEVEL))


async def _level(
    stack: Stack, bare: BotProcess, plan: Plan, concurrency: int, result: CaseResult
) -> None:
    texts, warmup = stack.mute_texts(plan.ack_commands), stack.mute_texts(plan.warmup)
    sent, used = await _send(stack, bare, texts, concurrency, warmup)
    acks = latency_ms([s.ack_seconds for s in sent])
    for name in ("p50_ms", "p95_ms", "p99_ms"):
        result.add(
            f"c{concurrency}_{name}", f"c={concurrency}: ack {name.split('_')[0]}", acks[name], "ms"
        )
    rate = round(_burst(sent, None).acks_per_s, 1)
    result.add(f"c{concurrency}_acks_per_s", f"c={concurrency}: acks per second", rate, "/s")
    ack.add_cpu(result, concurrency, used, len(sent))


async def _pexbot_burst(stack: Stack, plan: Plan, bot: BotProcess) -> Burst:
    """One burst to pexbot, then its outcomes awaited (its queued commands run meanwhile)."""
    drive = await stack.drive(
        stack.mute_texts(plan.ack_commands), LEVEL, plan.outcome_timeout, bot.pid
    )
    return _burst(drive.sent, drive.server_cpu)


def _rounds(
    stack: Stack, plan: Plan, bot: BotProcess, bare: BotProcess
) -> list[tuple[Burst, Burst]]:
    """(pexbot's, the bare app's) burst of each round, taken in turns."""
    pairs = []
    for number in range(plan.baseline_rounds):
        if number % 2 == 0:
            mine = asyncio.run(_pexbot_burst(stack, plan, bot))
            theirs = asyncio.run(_bare_burst(stack, bare, plan))
        else:
            theirs = asyncio.run(_bare_burst(stack, bare, plan))
            mine = asyncio.run(_pexbot_burst(stack, plan, bot))
        pairs.append((mine, theirs))
    return pairs


def run(stack: Stack, plan: Plan) -> CaseResult:
    bot = stack.bot(max_concurrency=1)
    asyncio.run(stack.drive(stack.mute_texts(plan.warmup), LEVEL, plan.outcome_timeout))
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
        pairs = _rounds(stack, plan, bot, bare)
    finally:
        bare.stop()
    _compare(result, pairs)
    return result


def _compare(result: CaseResult, pairs: list[tuple[Burst, Burst]]) -> None:
    mine = [m for m, _ in pairs]
    theirs = [t for _, t in pairs]
    p99 = median([b.p99_ms for b in mine]), median([b.p99_ms for b in theirs])
    rate = median([b.acks_per_s for b in mine]), median([b.acks_per_s for b in theirs])
    for who, (pexbot, bare) in (("p99_ms", p99), ("acks_per_s", rate)):
        unit = "ms" if who == "p99_ms" else "/s"
        label = "ack p99" if who == "p99_ms" else "acks per second"
        result.add(
            f"rounds_pexbot_{who}",
            f"in turns, c={LEVEL}: pexbot {label} (median)",
            round(pexbot, 2),
            unit,
        )
        result.add(
            f"rounds_bare_{who}",
            f"in turns, c={LEVEL}: bare app {label} (median)",
            round(bare, 2),
            unit,
        )
    p99_ratio, rate_ratio = p99[0] / p99[1], rate[0] / rate[1]
    result.judge(
        f"pexbot ack p99 at c={LEVEL} / bare app's",
        f"≤ {MOST_P99:g}x",
        f"{p99_ratio:.2f}x ({p99[0]:.2f} / {p99[1]:.2f} ms)",
        p99_ratio <= MOST_P99,
    )
    result.judge(
        f"pexbot acks/s at c={LEVEL} / bare app's",
        f"≥ {LEAST_RATE:g}x",
        f"{rate_ratio:.2f}x ({rate[0]:.0f} / {rate[1]:.0f} /s)",
        rate_ratio >= LEAST_RATE,
    )
    round_p99 = [m.p99_ms / t.p99_ms for m, t in pairs]
    round_rate = [m.acks_per_s / t.acks_per_s for m, t in pairs]
    for key, label, ratios in (
        ("p99", "ack p99", round_p99),
        ("rate", "acks per second", round_rate),
    ):
        result.add(
            f"round_{key}_ratio_min",
            f"the {label} ratio, per round: lowest",
            round(min(ratios), 2),
            "x",
        )
        result.add(
            f"round_{key}_ratio_max",
            f"the {label} ratio, per round: highest",
            round(max(ratios), 2),
            "x",
        )
    cpu = [(m.cpu_us_per_ack, t.cpu_us_per_ack) for m, t in pairs]
    measured = [(m, t) for m, t in cpu if m is not None and t]
    if measured:
        result.add(
            f"c{LEVEL}_cpu_ratio",
            "in turns: pexbot's server CPU per ack / bare app's, median (a figure, not a target)",
            round(median([m / t for m, t in measured]), 2),
            "x",
        )
    result.notes.append(
        f"{len(pairs)} round(s) in turns at c={LEVEL}, pexbot's ratio to the bare app in each: "
        f"p99 {', '.join(f'{r:.2f}' for r in round_p99)}; "
        f"acks per second {', '.join(f'{r:.2f}' for r in round_rate)}."
    )
    result.notes.append(
        "Both servers run at once and take the bursts in turns; only one is loaded at a time. "
        "pexbot also runs the commands it acknowledged, after each burst (the bare app runs "
        "none); the next burst waits until they are answered."
    )
