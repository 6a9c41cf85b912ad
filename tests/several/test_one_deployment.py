"""Three `pexbot serve` and two `pexbot clock` on one PostgreSQL database behave as one
(INTERFACE 10): the node never sees more than PEXIP_MAX_CONCURRENCY in flight, every command
is answered once, a killed serve's acknowledged commands are answered by another (done, or
outcome unknown: never sent twice), a request replayed to another serve is acted on once, and
when the leading clock is killed the other runs the next scheduled backup, once."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.backup.history import BackupHistory
from tests.fixtures.bot import ADMIN, TEAM
from tests.several.conftest import (
    BACKUP_CHANNEL,
    POSTGRES_URL,
    Deployment,
    Process,
    wait_for_leader,
)

pytestmark = pytest.mark.postgres

PARTICIPANTS = "/api/admin/status/v1/participant/"
CHANGES = ("participant/mute", "participant/unmute")


def participant_ids(simulator: Any) -> list[str]:
    with httpx.Client(base_url=simulator.url, auth=simulator.auth) as http:
        found = http.get(PARTICIPANTS, params={"limit": 100}).raise_for_status().json()
    return [p["id"] for p in found["objects"]]


def commands(simulator: Any, count: int) -> list[str]:
    """mute/unmute by id, in turns over the seeded participants."""
    ids = participant_ids(simulator)
    return [f"{('mute', 'unmute')[(n // len(ids)) % 2]} {ids[n % len(ids)]}" for n in range(count)]


class Burst:
    """Commands sent through several serves at once, each from a channel of its own."""

    def __init__(self, deployment: Deployment, serves: list[Process], slack_api: Any) -> None:
        self.clients = [deployment.slack(serve, slack_api) for serve in serves]
        self.acknowledged: dict[str, int] = {}  # channel -> index of the serve that acked
        self.refused: list[str] = []

    def send(self, texts: list[str]) -> None:
        with ThreadPoolExecutor(24) as pool:
            list(pool.map(self._send, range(len(texts)), texts))

    def _send(self, n: int, text: str) -> None:
        channel, serve = f"CX{n:07d}", n % len(self.clients)
        try:
            answer = self.clients[serve].command(text, channel=channel)
        except httpx.TransportError:
            self.refused.append(channel)  # its serve is dead: never acknowledged
            return
        if answer.status_code == 200:
            self.acknowledged[channel] = serve
        else:
            self.refused.append(channel)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def answers(slack_api: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in slack_api.state.messages():
        if message.channel and message.channel.startswith("CX"):
            found.setdefault(message.channel, []).append(message.text)
    return found


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def changes_sent(simulator: Any) -> int:
    return sum(c["command"] in CHANGES for c in simulator.control.stats()["commands"])


def done(text: str) -> bool:
    return " muted " in text or " unmuted " in text


def unknown(text: str) -> bool:
    return "may or may not have happened" in text


def test_a_burst_through_three_serves_keeps_the_cap_and_answers_each_command_once(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    serves = [deployment.serve() for _ in range(3)]
    simulator.control.add_fault(latency=0.005)
    simulator.control.reset_stats()
    texts = commands(simulator, 300)
    burst = Burst(deployment, serves, slack_api)
    try:
        burst.send(texts)
    finally:
        burst.close()
    assert len(burst.acknowledged) == 300
    wait_for(lambda: len(answers(slack_api)) >= 300, 90, "an answer to every command")
    time.sleep(1.0)  # anything answered twice would show now

    said = answers(slack_api)
    assert sorted(said) == sorted(burst.acknowledged)
    assert [channel for channel, texts in said.items() if len(texts) != 1] == []
    assert all(done(texts[0]) for texts in said.values()), said
    stats = simulator.control.stats()
    assert stats["max_in_flight"] == 1
    assert changes_sent(simulator) == 300
    assert all("Traceback" not in serve.log_text() for serve in serves)


def test_a_killed_serve_and_a_killed_clock_lose_nothing_and_repeat_nothing(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    clocks = [deployment.clock(BACKUP_SCHEDULE="* * * * *") for _ in range(2)]
    serves = [deployment.serve() for _ in range(3)]
    leader = wait_for_leader(clocks)
    [survivor] = [clock for clock in clocks if clock is not leader]
    assert f"pid {leader.pid}): this one waits to take over" in survivor.log_text()
    leader.kill()
    clock_killed_at = datetime.now(UTC)

    simulator.control.add_fault(latency=0.01)
    simulator.control.reset_stats()
    texts = commands(simulator, 300)
    burst = Burst(deployment, serves, slack_api)
    victim = serves[1]
    try:
        with ThreadPoolExecutor(1) as killer:
            killing = killer.submit(kill_when_answered, victim, slack_api, 80)
            burst.send(texts)
            killing.result()
    finally:
        burst.close()

    acked = burst.acknowledged
    victims = [channel for channel, serve in acked.items() if serve == 1]
    assert victims
    wait_for(lambda: set(acked) <= set(answers(slack_api)), 60, "every acknowledged command")
    time.sleep(2.5)  # a rescue poll more: anything answered twice would show now

    said = answers(slack_api)
    assert set(said) == set(acked)  # never-acknowledged commands were not run
    for channel, texts in said.items():
        assert all(done(t) or unknown(t) for t in texts), texts
        assert sum(done(t) for t in texts) <= 1, f"{channel} done twice: {texts}"
    doubled = [channel for channel, texts in said.items() if len(texts) > 1]
    # the one window: answered by the victim just before it died, before its record went
    assert len(doubled) <= 1, {channel: said[channel] for channel in doubled}
    assert changes_sent(simulator) <= len(acked)  # nothing sent twice
    assert simulator.control.stats()["max_in_flight"] == 1
    # the victim died with commands acknowledged and not answered: the others finished them
    assert "took over command" in "".join(s.log_text() for s in serves if s is not victim)

    # the surviving clock leads and runs the next scheduled backup, once
    wait_for(lambda: runs_since(clock_killed_at), 75, "the next scheduled backup")
    time.sleep(1.0)
    assert "this clock leads now" in survivor.log_text()
    assert [run.outcome for run in runs_since(clock_killed_at)] == ["success"]
    runs = asyncio.run(backup_runs())
    scheduled = [run.scheduled_for for run in runs]
    assert len(scheduled) == len(set(scheduled))  # no scheduled time ran twice
    creates = [c for c in simulator.control.stats()["commands"] if "backup_create" in c["command"]]
    assert len(creates) == len(runs_since(clock_killed_at))  # counted from after the kill
    assert len(backup_notices(slack_api)) == sum(run.outcome == "success" for run in runs)


def runs_since(moment: datetime) -> list[Any]:
    return [run for run in asyncio.run(backup_runs()) if run.started_at > moment]


def test_clocks_started_at_the_same_moment_say_which_leads_and_which_waits(
    deployment: Deployment,
) -> None:
    """Whatever the timing (the second may reach the lock while the first is taking it), the
    clock that waits says so in its log, naming the leader, as `pexbot check` does."""
    clocks = [deployment.clock(), deployment.clock()]
    leader = wait_for_leader(clocks)
    [waiting] = [clock for clock in clocks if clock is not leader]
    assert "this clock leads now" in leader.log_text()
    said = f"pid {leader.pid}): this one waits to take over"
    wait_for(lambda: said in waiting.log_text(), 5, "the waiting clock's log")
    assert "this clock leads now" not in waiting.log_text()


def kill_when_answered(victim: Process, slack_api: Any, answered: int) -> None:
    wait_for(lambda: len(answers(slack_api)) >= answered, 60, f"{answered} answers")
    victim.kill()


def backup_notices(slack_api: Any) -> list[str]:
    return [m.text for m in slack_api.state.messages() if m.channel == BACKUP_CHANNEL]


async def backup_runs() -> list[Any]:
    history = BackupHistory(POSTGRES_URL or "")
    try:
        return await history.recent(50)
    finally:
        history.close()


def test_a_command_that_reached_the_node_before_its_serve_died_is_reported_not_resent(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    victim, other = deployment.serve(), deployment.serve()
    simulator.control.add_fault(method="POST", path="/api/admin/command/", latency=3.0)
    simulator.control.reset_stats()
    [text] = commands(simulator, 1)
    burst = Burst(deployment, [victim], slack_api)
    try:
        burst.send([text])
    finally:
        burst.close()
    wait_for(lambda: simulator.control.stats()["in_flight"] == 1, 10, "the mute at the node")
    victim.kill()

    wait_for(lambda: answers(slack_api), 15, "an answer from the other serve")
    time.sleep(3.5)  # the node has answered the dead request by now; nothing more may come
    [[said]] = answers(slack_api).values()
    assert unknown(said) and "was not sent again" in said, said
    assert said.startswith(f"<@U0ADMIN01> asked to `{text}`: the pexbot process running it stopped")
    posts = [key for key in simulator.control.stats()["requests"] if key.startswith("POST ")]
    assert [simulator.control.stats()["requests"][key] for key in posts] == [1]
    assert "its outcome is unknown" in other.log_text()


def test_a_replayed_request_is_acted_on_once_whichever_serve_receives_it(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    serves = [deployment.serve(), deployment.serve()]
    simulator.control.reset_stats()
    [text] = commands(simulator, 1)
    body = urlencode(
        {
            "command": "/pexip",
            "text": text,
            "user_id": ADMIN,
            "user_name": ADMIN.lower(),
            "channel_id": "CX0000001",
            "team_id": TEAM,
            "response_url": slack_api.response_url("replayed", channel="CX0000001", user=ADMIN),
            "trigger_id": "trigger-replayed",
        }
    )
    senders = [deployment.slack(serve, slack_api) for serve in serves]
    sent_at = int(time.time())  # one signature, sent to both: a copy replayed elsewhere
    try:
        with ThreadPoolExecutor(2) as pool:
            answered = list(
                pool.map(lambda s: s.post(body, timestamp=sent_at).status_code, senders)
            )
    finally:
        for sender in senders:
            sender.close()

    assert sorted(answered) == [200, 401]  # whichever saw it second refused it
    wait_for(lambda: answers(slack_api), 15, "the answer")
    time.sleep(1.0)
    assert [len(said) for said in answers(slack_api).values()] == [1]
    assert changes_sent(simulator) == 1
