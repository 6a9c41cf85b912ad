"""Live meetings (issue 15): the bot's event sink under a node's load, lobby cards reaching
Slack, and a burst of joins coalesced into a few roster edits; all from events alone.

Four "Conferencing Nodes" each POST their events one by one, in order (as a real node does),
together at `events_per_second`. Times are the bench's monotonic clock, shared with the Slack
stand-in's process.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from typing import Any

import httpx

from bench.plan import Plan
from bench.results import CaseResult
from bench.stack import LIVE_CHANNEL, Stack
from bench.stats import latency_ms, ms, percentile

TITLE = "Live meetings: event ingest, lobby cards, roster edits (events alone)"
NODES = ("10.0.1.11", "10.0.1.12", "10.0.2.11", "10.0.3.11")
USER = "bench-node"


class Sender:
    """One node's stream to the sink: its own seq, one POST at a time."""

    def __init__(self, http: httpx.AsyncClient, url: str, node: str) -> None:
        self.http, self.url, self.node, self.seq = http, url, node, 1

    async def send(self, event: str, data: dict[str, Any]) -> float:
        """POST one event; the seconds the sink took to answer (it must be 200)."""
        self.seq += 1
        body = {"node": self.node, "seq": self.seq, "version": 2, "time": time.time()}
        began = time.monotonic()
        answer = await self.http.post(self.url, json={**body, "event": event, "data": data})
        took = time.monotonic() - began
        if answer.status_code != 200:
            raise RuntimeError(f"the sink answered {answer.status_code} to {event}")
        return took


def conference(name: str) -> dict[str, Any]:
    return {"name": name, "service_type": "conference", "is_locked": True, "is_started": True,
            "guests_muted": False, "start_time": time.time(), "tag": ""}  # fmt: skip


def participant(conference: str, uuid_: str, name: str, where: str, node: str) -> dict[str, Any]:
    return {
        "uuid": uuid_, "call_id": uuid_, "conversation_id": uuid_, "conference": conference,
        "display_name": name, "source_alias": f"{uuid_[:8]}@guest.example",
        "destination_alias": "bench@example.com", "call_direction": "in", "protocol": "WebRTC",
        "role": "guest", "service_type": where, "has_media": where == "conference",
        "is_muted": False, "is_client_muted": False, "is_presenting": False,
        "is_streaming": False, "encryption": "On", "connect_time": time.time(),
        "media_node": node, "signalling_node": node, "proxy_node": "",
        "remote_address": "198.51.100.7", "system_location": "London", "vendor": "Chrome",
        "rx_bandwidth": 0, "tx_bandwidth": 0, "service_tag": "", "call_tag": "",
        "related_uuids": [],
    }  # fmt: skip


async def _ingest(senders: list[Sender], plan: Plan) -> list[float]:
    """`events_per_second` participant updates, spread over the nodes, each node in order."""
    per_node = plan.events_per_second / len(senders)
    count = int(per_node * plan.events_seconds)
    people = [str(uuid.uuid4()) for _ in range(5)]

    async def stream(sender: Sender) -> list[float]:
        began, answers = time.monotonic(), []
        await sender.send("conference_started", conference("Bench_Ingest"))
        for i in range(count):
            await asyncio.sleep(max(0.0, began + i / per_node - time.monotonic()))
            who = people[i % len(people)]
            data = participant("Bench_Ingest", who, f"Ingest {who[:4]}", "conference", sender.node)
            answers.append(
                await sender.send("participant_updated", {**data, "is_muted": i % 2 == 1})
            )
        return answers

    results = await asyncio.gather(*(stream(sender) for sender in senders))
    return [took for answers in results for took in answers]


async def _lobby(sender: Sender, plan: Plan) -> dict[str, float]:
    """Guests start waiting one after another; when each POST was sent."""
    await sender.send("conference_started", conference("Bench_Lobby"))
    sent: dict[str, float] = {}
    for i in range(plan.lobby_guests):
        name = f"Lobby Guest {i:03d}"
        data = participant("Bench_Lobby", str(uuid.uuid4()), name, "waiting_room", sender.node)
        sent[name] = time.monotonic()
        await sender.send("participant_connected", data)
        await asyncio.sleep(0.05)
    return sent


async def _burst(sender: Sender, plan: Plan) -> None:
    """`roster_joins` joins within one second."""
    await sender.send("conference_started", conference("Bench_Burst"))
    began = time.monotonic()
    for i in range(plan.roster_joins):
        await asyncio.sleep(max(0.0, began + i / plan.roster_joins - time.monotonic()))
        data = participant(
            "Bench_Burst", str(uuid.uuid4()), f"Joiner {i:03d}", "conference", sender.node
        )
        await sender.send("participant_connected", data)


def _wait_quiet(stack: Stack, seconds: float, timeout: float) -> list[dict[str, Any]]:
    """The stand-in's channel messages once nothing new arrived for `seconds`."""
    deadline = time.monotonic() + timeout
    seen, last = -1, time.monotonic()
    while time.monotonic() < deadline:
        messages = stack.fixtures.messages()
        if len(messages) != seen:
            seen, last = len(messages), time.monotonic()
        elif time.monotonic() - last > seconds:
            return messages
        time.sleep(0.2)
    return stack.fixtures.messages()


def _status_requests(stack: Stack) -> int:
    requests: dict[str, int] = stack.control.stats()["requests"]
    return sum(count for path, count in requests.items() if "/status/" in path)


def run(stack: Stack, plan: Plan) -> CaseResult:
    password = secrets.token_hex(12)
    bot = stack.restart_bot(
        1, environment=(("PEXIP_EVENTS_USERNAME", USER), ("PEXIP_EVENTS_PASSWORD", password))
    )
    result = CaseResult("events", TITLE)
    stack.fixtures.forget()
    stack.control.reset_stats()

    async def drive() -> tuple[list[float], dict[str, float]]:
        limits = httpx.Limits(max_connections=len(NODES))
        async with httpx.AsyncClient(auth=(USER, password), limits=limits, timeout=10) as http:
            senders = [Sender(http, bot.url + "/pexip/events", node) for node in NODES]
            answers = await _ingest(senders, plan)
            sent = await _lobby(senders[0], plan)
            await _burst(senders[1], plan)
            return answers, sent

    answers, sent = asyncio.run(drive())
    messages = _wait_quiet(stack, 1.5, 60.0)
    _report_ingest(result, answers, plan)
    _report_lobby(result, messages, sent)
    _report_roster(result, messages, plan)
    status = _status_requests(stack)
    result.add("status_requests", "status-API requests on the events path", status)
    result.judge("status API", "0 requests", str(status), status == 0)
    stack.fixtures.forget()
    return result


def _report_ingest(result: CaseResult, answers: list[float], plan: Plan) -> None:
    shown = latency_ms(answers)
    for key, value in shown.items():
        result.add(f"ingest_{key}_ms", f"event answer {key}", value, "ms")
    result.add("ingest_events", f"events at {plan.events_per_second}/s", len(answers))
    p99 = ms(percentile(answers, 99))
    result.judge("ingest p99", "≤ 20 ms", f"{p99} ms", p99 <= 20)


def _report_lobby(
    result: CaseResult, messages: list[dict[str, Any]], sent: dict[str, float]
) -> None:
    delays = []
    for name, at in sent.items():
        card = next(
            (m for m in messages if m["method"] == "chat.postMessage"
             and f"{name}* is waiting" in m["text"] and m["channel"] == LIVE_CHANNEL),
            None,
        )  # fmt: skip
        if card is not None:
            delays.append(card["at"] - at)
    result.add("lobby_cards", "lobby cards posted (one per guest)", len(delays))
    if not delays:
        result.judge("lobby card p95", "≤ 1 s", "no card", False)
        return
    p95 = percentile(delays, 95)
    result.add("lobby_card_p95_ms", "event → card at Slack p95", ms(p95), "ms")
    result.add("lobby_card_p50_ms", "event → card at Slack p50", ms(percentile(delays, 50)), "ms")
    met = p95 <= 1.0 and len(delays) == len(sent)
    result.judge(
        "lobby card p95", "≤ 1 s, one each", f"{ms(p95)} ms, {len(delays)}/{len(sent)}", met
    )


def _report_roster(result: CaseResult, messages: list[dict[str, Any]], plan: Plan) -> None:
    posted = [
        m
        for m in messages
        if m["method"] == "chat.postMessage" and m["text"].startswith("Bench_Burst:")
    ]
    if len(posted) != 1:
        result.judge("roster edits", "one roster message", f"{len(posted)} posted", False)
        return
    edits = [
        m for m in messages if m["method"] == "chat.update" and m["text"].startswith("Bench_Burst:")
    ]
    final = (edits or posted)[-1]["text"]
    wanted = f"Bench_Burst: {plan.roster_joins} participants"
    result.add(
        "roster_updates", f"chat.update calls for {plan.roster_joins} joins in 1 s", len(edits)
    )
    correct = final.startswith(wanted)
    result.add("roster_final_correct", "the last edit shows every joiner (1 yes)", int(correct))
    result.judge(
        "roster edits",
        "≤ 10, last correct",
        f"{len(edits)}, {correct}",
        len(edits) <= 10 and correct,
    )
