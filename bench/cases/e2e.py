"""End to end: a slash command sent → its outcome message at the Slack stand-in, against the
same action as one direct httpx POST to the simulator (same keep-alive client all along).

The two are measured in turns, one command at a time, so both see the same machine. Overhead is
taken percentile by percentile: e2e p50 − direct p50, e2e p99 − direct p99.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.load import Slash, no_gc_pauses
from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import COMMANDS, CREDENTIALS, Participant, Stack
from bench.stats import ms, percentile

TITLE = "End to end (slash command → outcome posted) against a direct call to the node"
OVERHEAD_P50_MS = 5.0
OVERHEAD_P99_MS = 20.0


class Samples:
    def __init__(self) -> None:
        self.direct: list[float] = []
        self.by_id: list[float] = []
        self.by_name: list[float] = []


async def _direct(http: httpx.AsyncClient, word: str, who: Participant) -> float:
    began = time.monotonic()
    response = await http.post(f"{COMMANDS}{word}/", json={"participant_id": who.id})
    took = time.monotonic() - began
    if response.status_code >= 300 or response.json().get("status") != "success":
        raise RuntimeError(f"direct {word}: HTTP {response.status_code} {response.text}")
    return took


async def _through_bot(stack: Stack, slash: Slash, text: str, plan: Plan) -> float:
    drive = await stack.one_by_one(slash, text, plan.outcome_timeout)
    if drive.failures:
        raise RuntimeError(f"{text!r} did not succeed: {drive.outcomes}")
    return drive.end_to_end[0]


async def _measure(stack: Stack, plan: Plan) -> Samples:
    samples = Samples()
    direct_client = httpx.AsyncClient(base_url=stack.urls.simulator, auth=CREDENTIALS)
    async with direct_client as http, stack.slash() as slash:
        with no_gc_pauses():
            await _turns(stack, plan, http, slash, samples)
    return samples


async def _turns(
    stack: Stack, plan: Plan, http: httpx.AsyncClient, slash: Slash, samples: Samples
) -> None:
    """In turns: the direct call, the command by id, the command by name (while there are
    by-name samples to take). The first `plan.warmup` turns are not kept."""
    direct_p, id_p, name_p = stack.participants[1], stack.participants[2], stack.participants[4]
    by_id = stack.mute_texts(plan.warmup + plan.e2e_samples, who=[id_p])
    by_name = stack.mute_texts(plan.warmup + plan.e2e_by_name_samples, by_name=True, who=[name_p])
    for i, text in enumerate(by_id):
        direct = await _direct(http, text.split()[0], direct_p)
        bot = await _through_bot(stack, slash, text, plan)
        named = await _through_bot(stack, slash, by_name[i], plan) if i < len(by_name) else None
        if i < plan.warmup:
            continue
        samples.direct.append(direct)
        samples.by_id.append(bot)
        if named is not None:
            samples.by_name.append(named)


async def _one(stack: Stack, text: str, plan: Plan) -> None:
    async with stack.slash() as slash:
        await _through_bot(stack, slash, text, plan)


def _node_requests(stack: Stack, text: str, plan: Plan) -> int:
    stack.control.reset_stats()
    asyncio.run(_one(stack, text, plan))
    return stack.control.stats()["requests_total"]


def _report(result: CaseResult, samples: Samples) -> None:
    for key, values in (("direct", samples.direct), ("by_id", samples.by_id)):
        for pct in (50, 95, 99):
            label = f"{key.replace('_', ' ')} p{pct}"
            result.add(f"{key}_p{pct}_ms", label, ms(percentile(values, pct)), "ms")
    for pct in (50, 99):
        overhead = ms(percentile(samples.by_id, pct) - percentile(samples.direct, pct))
        result.add(f"overhead_p{pct}_ms", f"overhead p{pct} (by id − direct)", overhead, "ms")
    ratio = percentile(samples.by_id, 50) / percentile(samples.direct, 50)
    result.add("ratio_p50", "ratio p50 (by id / direct)", round(ratio, 2), "×")
    for pct in (50, 99):
        overhead = ms(percentile(samples.by_name, pct) - percentile(samples.direct, pct))
        result.add(
            f"by_name_p{pct}_ms", f"by name p{pct}", ms(percentile(samples.by_name, pct)), "ms"
        )
        result.add(f"by_name_overhead_p{pct}_ms", f"by name overhead p{pct}", overhead, "ms")


def run(stack: Stack, plan: Plan) -> CaseResult:
    stack.bot(max_concurrency=1)
    result = CaseResult("e2e", TITLE)
    samples = asyncio.run(_measure(stack, plan))
    stack.fixtures.forget()
    _report(result, samples)
    figures = {f.key: f.value for f in result.figures}
    for pct, limit in ((50, OVERHEAD_P50_MS), (99, OVERHEAD_P99_MS)):
        overhead = float(figures[f"overhead_p{pct}_ms"])
        result.judge(f"overhead p{pct}", f"≤ {limit:g} ms", f"{overhead:g} ms", overhead <= limit)
    who = stack.participants[2]
    for key, text in (("by_id", f"unmute {who.id}"), ("by_name", f'unmute "{who.name}"')):
        label = f"node requests per command, {key.replace('_', ' ')}"
        result.add(f"node_requests_{key}", label, _node_requests(stack, text, plan))
    stack.fixtures.forget()
    result.notes.append(
        f"{len(samples.by_id)} commands by id and {len(samples.by_name)} by name, one at a time, "
        "each after a direct POST of the same action. The bot makes one status lookup before "
        "the command (it checks the participant's conference against the user's permissions "
        "and names it in the message), so 'by id' is two node requests to the direct call's one."
    )
    return result
