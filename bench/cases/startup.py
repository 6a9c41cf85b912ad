"""`pexbot serve` start-up: process spawn to the first 200 from /healthz; its memory idle and
after a run of commands (VmRSS / VmHWM from /proc)."""

from __future__ import annotations

import asyncio
import time

from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import Stack
from bench.stats import median, mib

TITLE = "pexbot serve: start-up and memory"
SETTLE_SECONDS = 1.0


def run(stack: Stack, plan: Plan) -> CaseResult:
    result = CaseResult("startup", TITLE)
    starts, idle = [], []
    for _ in range(plan.startup_starts):
        bot = stack.restart_bot(max_concurrency=1)
        starts.append(bot.started_in or 0.0)
        time.sleep(SETTLE_SECONDS)
        idle.append(bot.memory().rss_kib)
    result.add(
        "start_s_median", "start-up to healthy /healthz (median)", round(median(starts), 3), "s"
    )
    result.add("start_s_max", f"start-up, slowest of {len(starts)}", round(max(starts), 3), "s")
    result.add("rss_idle_mib", "RSS idle", mib(int(median(idle))), "MiB")
    texts = stack.mute_texts(plan.startup_load)
    drive = asyncio.run(stack.drive(texts, plan.startup_load_concurrency, plan.outcome_timeout))
    stack.fixtures.forget()
    after = bot.memory()
    label = f"after {plan.startup_load} commands"
    result.add("rss_after_mib", f"RSS {label}", mib(after.rss_kib), "MiB")
    result.add("hwm_after_mib", f"peak RSS (VmHWM) {label}", mib(after.hwm_kib), "MiB")
    result.add("failed", f"commands failed ({label})", drive.failures)
    result.notes.append(
        "The issue sets no target for start-up or RSS. The bot that served the most commands "
        "is listed again at the end of the run with its memory when it was stopped."
    )
    return result
