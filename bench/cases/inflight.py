"""Requests in flight at the node: 200 commands sent to the bot at once, with the node slowed a
little (a latency fault) so requests overlap, once per PEXIP_MAX_CONCURRENCY (the bot is
restarted with each). For contrast, the same number of direct requests with no cap."""

from __future__ import annotations

import asyncio

import httpx

from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import COMMANDS, CREDENTIALS, Stack

TITLE = "Requests in flight at the node against PEXIP_MAX_CONCURRENCY"


async def _uncapped(stack: Stack, count: int) -> None:
    """`count` direct mute requests at once, each on its own connection."""
    who = stack.participants[3]
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(
        base_url=stack.urls.simulator, auth=CREDENTIALS, limits=limits, timeout=60
    ) as http:
        await asyncio.gather(
            *(http.post(f"{COMMANDS}mute/", json={"participant_id": who.id}) for _ in range(count))
        )


def _with_cap(stack: Stack, plan: Plan, cap: int, result: CaseResult) -> None:
    stack.bot(max_concurrency=cap)
    stack.control.add_fault(latency=plan.inflight_latency)
    stack.control.reset_stats()
    texts = stack.mute_texts(plan.inflight_commands)
    drive = asyncio.run(stack.drive(texts, len(texts), plan.outcome_timeout))
    stats = stack.control.stats()
    stack.control.clear_faults()
    stack.fixtures.forget()
    most = stats["max_in_flight"]
    result.add(f"cap{cap}_max_in_flight", f"cap {cap}: most requests in flight", most)
    result.add(f"cap{cap}_requests", f"cap {cap}: node requests", stats["requests_total"])
    result.add(f"cap{cap}_connections", f"cap {cap}: TCP connections", stats["connections"])
    result.add(f"cap{cap}_failed", f"cap {cap}: commands failed", drive.failures)
    result.judge(f"in flight with cap {cap}", f"≤ {cap}", str(most), most <= cap)


def run(stack: Stack, plan: Plan) -> CaseResult:
    result = CaseResult("inflight", TITLE)
    for cap in plan.inflight_caps:
        _with_cap(stack, plan, cap, result)
    stack.control.add_fault(latency=plan.inflight_latency)
    stack.control.reset_stats()
    asyncio.run(_uncapped(stack, plan.inflight_commands))
    stats = stack.control.stats()
    stack.control.clear_faults()
    result.add("uncapped_max_in_flight", "no cap (direct): most in flight", stats["max_in_flight"])
    result.notes.append(
        f"{plan.inflight_commands} commands sent at once; every node request delayed "
        f"{plan.inflight_latency * 1000:g} ms by a simulator fault so that requests overlap."
    )
    return result
