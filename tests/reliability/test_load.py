"""A burst of 1,000 slash commands, 50 in flight at a time: 1,000 outcomes in the channels, none
lost and none twice, never more requests at the management node than PEXIP_MAX_CONCURRENCY, and
the memory of the process bounded.

The bot runs in this process, with the node simulator and the Slack stand-in: the memory figure
is the growth of all of them together over the burst (after a warm-up), so it bounds the bot's.
The acknowledgement times are reported, not asserted: here they measure four servers and the
load sharing one interpreter (`python -m bench` measures the bot in a process of its own)."""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.simulator.seed import stable_id
from tests.e2e.conftest import Seen
from tests.fixtures.bot import MODERATOR, TEAM
from tests.reliability.conftest import SECRETS, Launch, SecretBot, Stack, Tally

BURST = 1000
IN_FLIGHT = 50  # requests Slack has open to the bot at once
CAP = 2  # PEXIP_MAX_CONCURRENCY
WARM_UP = 50
MEMORY_LIMIT_MB = 40.0  # growth of the process over the burst, after a warm-up
PEOPLE = [
    ("VMR_1", "Alice Parkes"),
    ("VMR_1", "Bob Smith"),
    ("VMR_1", "Carol Diaz"),
    ("VMR_2", "Alice Cooper"),
    ("VMR_2", "Dan Brown"),
    ("Board_Room", "Frank Ng"),
]
OUTCOME = re.compile(r"^<@U0MOD0001> (un)?muted (.+) in (VMR_1|VMR_2|Board_Room)\.$")


@dataclass(frozen=True)
class Sent:
    channel: str
    status: int
    ack_seconds: float


def rss_mb() -> float:
    """The resident set size of this process (the bot, in-process), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def command_text(index: int) -> str:
    conference, name = PEOPLE[(index // 2) % len(PEOPLE)]
    verb = "unmute" if index % 2 else "mute"
    return f"{verb} {stable_id('participant', conference, name)}"


async def send_burst(bot: SecretBot, reply_to: str, first: int, count: int) -> list[Sent]:
    """`count` signed slash commands, IN_FLIGHT at a time, each from a channel of its own."""
    verifier = SignatureVerifier(SECRETS["SLACK_SIGNING_SECRET"])
    slots = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)

    async with httpx.AsyncClient(base_url=bot.url, limits=limits, timeout=30) as http:

        async def one(index: int) -> Sent:
            channel = f"C0LOAD{index:04d}"
            body = urlencode(
                {
                    "command": "/pexip",
                    "text": command_text(index),
                    "user_id": MODERATOR,
                    "channel_id": channel,
                    "team_id": TEAM,
                    "response_url": f"{reply_to}/response/{channel}",
                    "trigger_id": f"trigger-{channel}",
                }
            )
            async with slots:
                ts = str(int(time.time()))
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body) or "",
                }
                started = time.monotonic()
                response = await http.post("/slack/events", content=body, headers=headers)
                return Sent(channel, response.status_code, time.monotonic() - started)

        return await asyncio.gather(*(one(i) for i in range(first, first + count)))


def outcomes(seen: Seen, channels: set[str]) -> Counter[str]:
    """Outcome messages per channel of the burst."""
    return Counter(
        m.channel
        for m in seen.state.messages()
        if m.channel in channels and m.kind == "postMessage" and OUTCOME.match(m.text)
    )


def wait_for_outcomes(seen: Seen, channels: set[str], timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = outcomes(seen, channels)
        if len(found) >= len(channels) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch(PEXIP_MAX_CONCURRENCY=str(CAP))


def test_a_burst_of_1000_commands_gets_1000_outcomes_within_the_cap_and_bounded_memory(
    bot: SecretBot, stack: Stack, seen: Seen, simulator: object, tally: Tally
) -> None:
    node = stack.node
    reply_to = stack.slack.state.base_url
    with stack.watch.quietly():
        asyncio.run(send_burst(bot, reply_to, BURST, WARM_UP))
        wait_for_outcomes(seen, {f"C0LOAD{i:04d}" for i in range(BURST, BURST + WARM_UP)}, 20)
        stack.fresh_slack()
        node.control.reset_stats()
        gc.collect()
        before = rss_mb()

        started = time.monotonic()
        sent = asyncio.run(send_burst(bot, reply_to, 0, BURST))
        channels = {s.channel for s in sent}
        said = wait_for_outcomes(seen, channels, 60)
        took = time.monotonic() - started
        gc.collect()
        grown = rss_mb() - before

    stats = node.control.stats()
    lost = BURST - len(said)
    tally.burst_size += BURST
    tally.outcomes_lost += lost
    acks = sorted(s.ack_seconds for s in sent)
    tally.notes.append(
        f"load: {BURST} commands ({IN_FLIGHT} in flight) → {len(said)} outcomes in {took:.1f} s; "
        f"node max in flight {stats['max_in_flight']} (cap {CAP}); process memory "
        f"{grown:+.1f} MB over the burst; acks p50 {acks[BURST // 2]:.2f} s, "
        f"max {acks[-1]:.2f} s (bot, node and Slack stand-ins share this one process)"
    )
    assert [s.status for s in sent] == [200] * BURST
    assert lost == 0, f"{lost} outcomes never reached their channel"
    assert set(said.values()) == {1}, "an outcome was posted twice"
    assert stats["max_in_flight"] <= CAP
    commands = Counter(c["command"] for c in stats["commands"])
    assert commands == {"participant/mute": BURST // 2, "participant/unmute": BURST // 2}
    assert grown < MEMORY_LIMIT_MB
    assert not bot.runtime.services.following_up
    assert bot.healthz() == 200
