"""`POST /pexip/events` on the bot's real HTTP endpoint: credentials, sizes, malformed events,
and events that repeat or come from several nodes (INTERFACE §3, §8)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Seen, wait_until
from tests.e2e.test_live_meetings import EVENTS, LIVE, WATCHED, said
from tests.fixtures.bot import Bot

AUTH = (EVENTS["PEXIP_EVENTS_USERNAME"], EVENTS["PEXIP_EVENTS_PASSWORD"])
_seq = itertools.count(2)


def envelope(event: str, data: dict[str, Any], node: str = "10.0.1.11") -> dict[str, Any]:
    return {
        "node": node,
        "seq": next(_seq),
        "version": 2,
        "time": time.time(),
        "event": event,
        "data": data,
    }


def conference(name: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "service_type": "conference",
        "is_locked": False,
        "is_started": True,
        "guests_muted": False,
        "start_time": 1741083298.0,
        "tag": "",
        **changes,
    }


def post(bot: Bot, body: Any, auth: Any = AUTH, **kwargs: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    return httpx.post(bot.url + "/pexip/events", content=content, auth=auth, headers=headers)


@pytest.fixture
def live(bot_with: Callable[..., Bot]) -> Bot:
    return bot_with(policy=WATCHED, **EVENTS)


def test_the_endpoint_is_not_there_while_live_events_are_off(bot: Bot) -> None:
    answer = post(bot, envelope("eventsink_started", {}))
    assert answer.status_code == 404


@pytest.mark.parametrize(
    "auth", [None, ("pexip-node", "wrong"), ("someone", AUTH[1])], ids=["none", "password", "user"]
)
def test_wrong_or_missing_credentials_get_401_and_do_nothing(
    live: Bot, seen: Seen, auth: Any
) -> None:
    answer = post(live, envelope("conference_started", conference("VMR_9")), auth=auth)
    assert answer.status_code == 401
    time.sleep(0.3)
    assert not [m for m in seen.in_channel() if m.channel == LIVE]


def test_a_body_over_1_mib_gets_413(live: Bot) -> None:
    answer = post(live, b"{" + b" " * (1024 * 1024) + b"}")
    assert answer.status_code == 413


def test_a_malformed_event_gets_400_and_the_next_one_is_handled(live: Bot, seen: Seen) -> None:
    assert post(live, b'{"node": "10.0.1.11", "seq": 5}').status_code == 400
    assert post(live, envelope("conference_started", conference("VMR_9"))).status_code == 200
    wait_until(
        lambda: any("VMR_9 has started" in said(m) for m in seen.in_channel()), what="a notice"
    )


def test_a_conference_on_two_nodes_starts_once_and_ends_when_both_nodes_say_so(
    live: Bot, seen: Seen
) -> None:
    for node in ("10.0.1.11", "10.0.2.11"):
        started = envelope("conference_started", conference("VMR_8"), node)
        assert post(live, started).status_code == 200
        assert post(live, started).status_code == 200  # redelivered
    ended = conference("VMR_8", end_time=1741083298.0 + 3725)
    post(live, envelope("conference_ended", ended, "10.0.1.11"))
    time.sleep(0.5)
    assert not any("VMR_8 has ended" in said(m) for m in seen.in_channel())
    post(live, envelope("conference_ended", ended, "10.0.2.11"))
    wait_until(
        lambda: any("VMR_8 has ended after 1 h 2 min" in said(m) for m in seen.in_channel()),
        what="the ended notice",
    )
    notices = [m for m in seen.in_channel() if m.kind != "update" and "VMR_8 has" in said(m)]
    assert len(notices) == 2, [said(m) for m in notices]


def test_events_of_conferences_no_watch_matches_are_dropped(live: Bot, seen: Seen) -> None:
    assert post(live, envelope("conference_started", conference("Town_Hall"))).status_code == 200
    time.sleep(0.3)
    assert not [m for m in seen.in_channel() if m.channel == LIVE]


def test_events_are_counted_by_type_in_metrics_bulk_deliveries_too(live: Bot) -> None:
    inner = [
        envelope("conference_started", conference("Town_Hall")),
        envelope("conference_updated", conference("Town_Hall", is_locked=True)),
    ]
    bulk = {"node": "127.0.0.1", "seq": 0, "version": 2, "time": time.time()}
    assert post(live, {**bulk, "event": "eventsink_bulk", "data": inner}).status_code == 200
    metrics = httpx.get(live.url + "/metrics").text
    counted = {
        kind: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("pexbot_events_received_total{")
        for kind in [line.split('"')[1]]
    }
    assert counted["eventsink_bulk"] >= 1
    assert counted["conference_started"] >= 1 and counted["conference_updated"] >= 1
