"""Live meetings and approvals through several real `pexbot serve` processes (and two clocks) on
one PostgreSQL database behave as one (INTERFACE §5, §8, §10): one lobby card per waiting guest
whichever serve each delivery reaches, a card that names who admitted the guest whichever serve
ran the click, a roster whose edits never go back to an older state, one approval of two
approvers' clicks on two serves, and the expiry of a request by the clock that leads."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Seen, wait_until
from tests.fixtures.bot import ADMIN, MODERATOR, POLICY
from tests.several.conftest import Deployment, Process, leading, wait_for_leader

pytestmark = pytest.mark.postgres

LIVE = "C0LIVE0001"
ADMIN2 = "U0ADMIN02"
EVENTS = {"PEXIP_EVENTS_USERNAME": "pexip-node", "PEXIP_EVENTS_PASSWORD": "sink-secret-77"}
WATCHED = POLICY + (
    f"watch:\n  - conferences: [Board*, VMR_*]\n    channel: {LIVE}\n    show: [lobby, roster]\n"
)
APPROVALS = POLICY.replace("admin: [U0ADMIN01]", f"admin: [U0ADMIN01, {ADMIN2}]") + (
    "approval:\n  end: {approvers: [admin], expires: 10m}\n"
)
SINKS = "/api/admin/configuration/v1/event_sink/"
LOCATIONS = "/api/admin/configuration/v1/system_location/"
JOINS = 24


def with_policy(deployment: Deployment, policy: str) -> None:
    (deployment.folder / "permissions.yaml").write_text(policy)
    assert Path(deployment.env["PERMISSIONS_FILE"]) == deployment.folder / "permissions.yaml"


def add_sink(http: httpx.Client, name: str, serve: Process) -> str:
    """An event sink on the node that delivers to `serve`; its resource URI."""
    body = {
        "name": name,
        "url": serve.url + "/pexip/events",
        "username": EVENTS["PEXIP_EVENTS_USERNAME"],
        "password": EVENTS["PEXIP_EVENTS_PASSWORD"],
        "version": 2,
    }
    http.post(SINKS, json=body).raise_for_status()
    found = http.get(SINKS).json()["objects"]
    return str(next(sink["resource_uri"] for sink in found if sink["name"] == name))


def sinks_to(simulator: Any, serves: list[Process]) -> None:
    """Every location's nodes deliver every event to each of these serves (one sink each)."""
    with httpx.Client(base_url=simulator.url, auth=simulator.auth) as http:
        uris = [add_sink(http, f"pexbot-{index}", serve) for index, serve in enumerate(serves)]
        for location in http.get(LOCATIONS).json()["objects"]:
            http.patch(location["resource_uri"], json={"event_sinks": uris}).raise_for_status()


def sinks_by_location(simulator: Any, serves: dict[str, Process]) -> None:
    """The nodes of each named location deliver their events to that serve only."""
    with httpx.Client(base_url=simulator.url, auth=simulator.auth) as http:
        for location in http.get(LOCATIONS).json()["objects"]:
            serve = serves.get(location["name"])
            if serve is None:
                continue
            patch = {"event_sinks": [add_sink(http, f"pexbot-{location['name']}", serve)]}
            http.patch(location["resource_uri"], json=patch).raise_for_status()


def node(simulator: Any, command: str, **body: str) -> None:
    url = f"{simulator.url}/api/admin/command/v1/{command}/"
    httpx.post(url, json=body, auth=simulator.auth).raise_for_status()


def conference_id(simulator: Any, name: str) -> str:
    found = httpx.get(
        simulator.url + "/api/admin/status/v1/conference/",
        params={"name": name},
        auth=simulator.auth,
    ).json()["objects"]
    return str(found[0]["id"])


def said(message: Any) -> str:
    return str(message.shown).replace("*", "")


def posts(seen: Seen, fragment: str) -> list[Any]:
    """New messages (not edits) in the live channel that say `fragment`."""
    return [
        m
        for m in seen.in_channel()
        if m.kind != "update" and m.channel == LIVE and fragment in said(m)
    ]


def versions(seen: Seen, ts: str) -> list[str]:
    """What the message `ts` said, post then each edit, in the order Slack received them."""
    return [said(m) for m in seen.in_channel() if m.ts == ts]


def handled(serve: Process) -> bool:
    return "Traceback" not in serve.log_text()


@pytest.fixture
def live(deployment: Deployment) -> Iterator[list[Process]]:
    with_policy(deployment, WATCHED)
    yield [deployment.serve(**EVENTS), deployment.serve(**EVENTS)]


def test_two_serves_sharing_every_delivery_post_one_card_per_guest_in_its_latest_state(
    live: list[Process], simulator: Any, slack_api: Any
) -> None:
    """Each event reaches both serves (two sinks; repeated, newest first): the first to claim
    it handles it, so each guest's events are split between the two processes."""
    seen = Seen(slack_api)
    sinks_to(simulator, live)
    simulator.control.event_delivery(duplicate_every=2, reverse=True)
    guests = [f"Guest {index}" for index in range(6)]
    for guest in guests:
        simulator.control.arrive("board@example.com", guest)
    for guest in guests:
        wait_until(lambda g=guest: posts(seen, f"{g} is waiting"), 10, f"the card of {guest}")
    node(simulator, "conference/unlock", conference_id=conference_id(simulator, "Board_Room"))

    for guest in guests:
        [card] = posts(seen, f"{guest} is waiting")
        wait_until(
            lambda c=card, g=guest: (
                f"{g} was admitted to Board_Room elsewhere" in versions(seen, c.ts)[-1]
            ),
            10,
            f"{guest}'s card to say they were admitted",
        )
    time.sleep(1.5)  # a second card, or an older state sent last, would show now
    for guest in guests:
        [card] = posts(seen, f"{guest} is waiting")
        assert "admitted" in versions(seen, card.ts)[-1]
    assert all(handled(serve) for serve in live)


def test_an_admit_clicked_on_one_serve_is_credited_on_the_card_the_other_serve_keeps(
    deployment: Deployment, live: list[Process], simulator: Any, slack_api: Any
) -> None:
    seen = Seen(slack_api)
    clicked_on, events_to = live
    sinks_to(simulator, [events_to])
    simulator.control.arrive("board@example.com", "Gina Guest")
    card = wait_until(lambda: posts(seen, "Gina Guest is waiting"), 10, "the card")[0]

    slack = deployment.slack(clicked_on, slack_api)
    try:
        admit = seen.button(card, "Admit")
        assert slack.click(admit, user=ADMIN, channel=LIVE).status_code == 200
    finally:
        slack.close()

    wait_until(
        lambda: (
            f"Gina Guest was admitted to Board_Room by <@{ADMIN}>" in versions(seen, card.ts)[-1]
        ),
        10,
        "the card to name who admitted Gina",
    )
    assert len(posts(seen, "Gina Guest is waiting")) == 1


def test_a_burst_of_joins_split_between_two_serves_ends_on_the_full_roster_never_going_back(
    live: list[Process], simulator: Any, slack_api: Any
) -> None:
    seen = Seen(slack_api)
    sinks_to(simulator, live)
    simulator.control.event_delivery(duplicate_every=3)
    for index in range(JOINS):  # over ~3 s: each serve would edit about once a second
        simulator.control.arrive("vmr2@meet.example.com", f"Burst {index:02d}")
        time.sleep(0.12)

    roster = wait_until(lambda: posts(seen, "VMR_2:"), 10, "the roster")
    assert len(roster) == 1
    wait_until(
        lambda: f"VMR_2: {JOINS + 2} participants" in versions(seen, roster[0].ts)[-1],
        15,
        "the full roster",
    )
    time.sleep(2.5)  # a late edit of an older state would show now
    counts = [
        int(found.group(1))
        for text in versions(seen, roster[0].ts)
        if (found := re.search(r"VMR_2: (\d+) participants", text))
    ]
    assert counts == sorted(counts), counts  # joins only: each edit shows as many or more
    assert counts[-1] == JOINS + 2
    edits = len(versions(seen, roster[0].ts)) - 1
    assert edits <= 6, f"{edits} chat.update calls for {JOINS} joins: one a second did not hold"
    assert len(posts(seen, "VMR_2:")) == 1


def test_a_slow_status_read_for_a_conference_joined_mid_meeting_holds_up_no_other_conference(
    live: list[Process], simulator: Any, slack_api: Any
) -> None:
    """VMR_2 runs before the bot saw it start: its first event makes one serve read who is in
    it from the node, which is slow. The other serve's events of Board_Room go on meanwhile;
    VMR_2's roster still comes whole."""
    seen = Seen(slack_api)
    slow, other = live
    sinks_by_location(simulator, {"London": slow, "Oslo": other})
    simulator.control.add_fault(method="GET", path="/api/admin/status/", latency=3.0)

    simulator.control.arrive("vmr2@meet.example.com", "Late Larry", location="London")
    wait_until(lambda: slow_reads(simulator), 5, "the slow read at the node")
    arrived = time.monotonic()
    simulator.control.arrive("board@example.com", "Quick Quinn", location="Oslo")
    wait_until(lambda: posts(seen, "Quick Quinn is waiting"), 10, "Quick Quinn's card")
    took = time.monotonic() - arrived
    assert took < 2.0, f"the card took {took:.1f} s: it waited for the slow read"

    roster = wait_until(lambda: posts(seen, "VMR_2:"), 15, "VMR_2's roster")
    assert len(roster) == 1
    wait_until(
        lambda: "VMR_2: 3 participants" in versions(seen, roster[0].ts)[-1],
        10,
        "the roster with the two who were there before and Larry",
    )
    assert all(handled(serve) for serve in live)


def slow_reads(simulator: Any) -> int:
    """Reads the slow node has received so far (counted as each arrives)."""
    return sum(int(rule["applied"]) for rule in simulator.control.faults())


# --- approvals --------------------------------------------------------------------------------


def ask_to_end(deployment: Deployment, serve: Process, slack_api: Any, seen: Seen) -> Any:
    """The new request, as posted in the channel."""
    asked = f"<@{MODERATOR}> asks to end VMR_2"
    before = len(requests(seen, asked))
    slack = deployment.slack(serve, slack_api)
    try:
        slack.command("end VMR_2", user=MODERATOR)
        confirmation = seen.private("End VMR_2 for", timeout=10)
        slack.click(seen.button(confirmation, "End VMR_2"), user=MODERATOR)
    finally:
        slack.close()
    return wait_until(lambda: requests(seen, asked)[before:], 10, "the request")[0]


def requests(seen: Seen, asked: str) -> list[Any]:
    return [m for m in seen.in_channel() if m.kind != "update" and asked in m.shown]


def test_two_approvers_clicking_on_two_serves_make_one_approval(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    with_policy(deployment, APPROVALS)
    serves = [deployment.serve(), deployment.serve()]
    seen = Seen(slack_api)
    request = ask_to_end(deployment, serves[0], slack_api, seen)
    approve = seen.button(request, "Approve")
    clients = [deployment.slack(serve, slack_api) for serve in serves]
    start = threading.Barrier(2)

    def click(index: int, user: str) -> None:
        start.wait()
        clients[index].click(approve, user=user)

    try:
        clicks = [
            threading.Thread(target=click, args=(0, ADMIN)),
            threading.Thread(target=click, args=(1, ADMIN2)),
        ]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join(10)
    finally:
        for client in clients:
            client.close()

    seen.public("ended VMR_2", timeout=10)
    told = seen.private("this request was already approved by")
    winner = ADMIN if f"<@{ADMIN}>" in told.shown else ADMIN2
    seen.update(f"Approved by <@{winner}>")
    time.sleep(1.0)
    ends = [
        c for c in simulator.control.stats()["commands"] if c["command"] == "conference/disconnect"
    ]
    assert len(ends) == 1
    edits = [m for m in seen.in_channel() if m.kind == "update" and m.ts == request.ts]
    assert [said(m).count("Approved by") for m in edits] == [1]


def test_the_leading_clock_expires_a_request_once_and_the_other_takes_over_when_it_dies(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    with_policy(deployment, APPROVALS.replace("expires: 10m", "expires: 2s"))
    clocks = [deployment.clock(), deployment.clock()]
    serve = deployment.serve()
    simulator.control.reset_stats()
    seen = Seen(slack_api)
    leader = wait_for_leader(clocks)

    first = ask_to_end(deployment, serve, slack_api, seen)
    expired = seen.update("Expired at", timeout=10)
    assert expired.ts == first.ts
    wait_until(lambda: "expired 1 approval request" in leader.log_text(), 5, "the leader's log")
    assert all("expired 1 approval" not in c.log_text() for c in clocks if c is not leader)
    assert "expired" not in serve.log_text().lower()

    leader.kill()
    [survivor] = [clock for clock in clocks if clock is not leader]
    wait_until(lambda: leading([survivor]), 30, "the other clock to lead")
    second = ask_to_end(deployment, serve, slack_api, seen)
    wait_until(
        lambda: [m for m in seen.in_channel() if m.kind == "update" and m.ts == second.ts],
        10,
        "the second request to expire",
    )
    wait_until(lambda: "expired 1 approval request" in survivor.log_text(), 5, "its log")
    expiries = [m for m in seen.in_channel() if m.kind == "update" and "Expired at" in m.shown]
    assert sorted(m.ts for m in expiries) == sorted([first.ts, second.ts])
    assert simulator.control.stats()["commands"] == []


def test_a_click_after_the_expiry_is_refused_as_expired_before_any_clock_has_run(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    """No clock runs (and on PostgreSQL no serve expires requests): the click alone finds the
    request's time up, refuses, and marks it expired, once."""
    with_policy(deployment, APPROVALS.replace("expires: 10m", "expires: 1s"))
    asked_on, clicked_on = deployment.serve(), deployment.serve()
    simulator.control.reset_stats()
    seen = Seen(slack_api)
    request = ask_to_end(deployment, asked_on, slack_api, seen)
    time.sleep(1.5)
    assert [m for m in seen.in_channel() if m.kind == "update"] == []  # nobody expired it yet

    slack = deployment.slack(clicked_on, slack_api)
    try:
        slack.click(seen.button(request, "Approve"), user=ADMIN)
        seen.private("Nothing was done: this request expired at")
        slack.click(seen.button(request, "Approve"), user=ADMIN2)
    finally:
        slack.close()

    expired = seen.update("Expired at")
    assert expired.ts == request.ts
    refused = "this request expired at"
    wait_until(
        lambda: len([m for m in seen.everything() if m.ephemeral and refused in m.shown]) == 2,
        5,
        "the second click's answer",
    )
    time.sleep(0.5)
    assert len([m for m in seen.in_channel() if m.kind == "update"]) == 1
    assert simulator.control.stats()["commands"] == []
