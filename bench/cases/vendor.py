"""The vendor examples' style against pexbot: 200 sequential mute/unmute commands with a new
HTTP client (so a new TCP connection) per request, as `requests.post` per call does, against
pexbot's PexipClient (one keep-alive pool) and against the whole bot over Slack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import COMMANDS, CREDENTIALS, Stack
from bot.config import PexipSettings
from bot.pexip.client import PexipClient
from bot.pexip.commands import MuteParticipant, UnmuteParticipant

TITLE = "Connections: the vendor examples' style (a new connection per request) against pexbot"


def _words(count: int) -> list[str]:
    return [("mute", "unmute")[i % 2] for i in range(count)]


def _vendor_style(stack: Stack, count: int) -> None:
    who = stack.participants[3]
    for word in _words(count):
        with httpx.Client(base_url=stack.urls.simulator, auth=CREDENTIALS) as http:
            http.post(f"{COMMANDS}{word}/", json={"participant_id": who.id}).raise_for_status()


async def _pexip_client(stack: Stack, count: int) -> None:
    who = stack.participants[3]
    settings = PexipSettings(
        manager_url=stack.urls.simulator, username=CREDENTIALS[0], password=CREDENTIALS[1]
    )
    async with PexipClient(settings) as client:
        for word in _words(count):
            kind = MuteParticipant if word == "mute" else UnmuteParticipant
            await client.command(kind(participant_id=who.id))


async def _bot(stack: Stack, count: int, plan: Plan) -> None:
    async with stack.slash() as slash:
        for text in stack.mute_texts(count, who=[stack.participants[3]]):
            drive = await stack.one_by_one(slash, text, plan.outcome_timeout)
            if drive.failures:
                raise RuntimeError(f"{text!r} did not succeed")


def _measured(stack: Stack, work: Callable[[], object]) -> tuple[float, int, int]:
    """Wall seconds, TCP connections and requests the simulator saw."""
    stack.control.reset_stats()
    began = time.monotonic()
    work()
    took = time.monotonic() - began
    stats = stack.control.stats()
    return took, stats["connections"], stats["requests_total"]


def run(stack: Stack, plan: Plan) -> CaseResult:
    stack.bot(max_concurrency=1)
    count = plan.vendor_commands
    result = CaseResult("vendor", TITLE)
    rows = {
        "vendor": ("new client per request", lambda: _vendor_style(stack, count)),
        "client": ("pexbot PexipClient", lambda: asyncio.run(_pexip_client(stack, count))),
        "bot": ("pexbot over Slack", lambda: asyncio.run(_bot(stack, count, plan))),
    }
    measured = {key: _measured(stack, work) for key, (_, work) in rows.items()}
    stack.fixtures.forget()
    for key, (label, _) in rows.items():
        took, connections, requests = measured[key]
        result.add(f"{key}_connections", f"{label}: TCP connections", connections)
        result.add(f"{key}_requests", f"{label}: node requests", requests)
        result.add(f"{key}_wall_s", f"{label}: wall time, {count} commands", round(took, 3), "s")
    ratio = measured["vendor"][0] / measured["client"][0]
    result.add("vendor_over_client", "wall time, vendor style / PexipClient", round(ratio, 2), "×")
    for key in ("client", "bot"):
        connections = measured[key][1]
        result.judge(
            f"{rows[key][0]}: connections for {count} sequential commands",
            "1",
            str(connections),
            connections == 1,
        )
    result.notes.append(
        "Plain HTTP on loopback: no TLS handshake, which a real management node adds to every "
        "new connection, so the vendor style's cost here is a lower bound."
    )
    return result
