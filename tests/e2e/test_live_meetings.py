"""Live meetings (INTERFACE §8): the simulator's Conferencing Nodes POST events to the bot's
event sink, registered with `pexbot events register`; the moderators' channel sees lobby cards,
live rosters and started / ended notices, and a card's buttons act for whoever clicks them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.check import check_event_sink
from bot.cli import main
from bot.config import Settings
from bot.coordination.message_edits import MessageEdits
from bot.events.records import LiveRecords
from tests.e2e.conftest import Seen, audited, node_commands, participant, wait_until
from tests.fixtures.bot import ADMIN, POLICY, Bot, serve_bot

LIVE = "C0LIVE0001"
KEEPER = "U0KEEPER1"
EVENTS = {"PEXIP_EVENTS_USERNAME": "pexip-node", "PEXIP_EVENTS_PASSWORD": "sink-secret-77"}
WATCHED = (
    POLICY.replace(
        "assign:\n",
        '  keeper:\n    allow: [admit, disconnect]\n    conferences: ["VMR_*"]\nassign:\n',
    )
    + f"  keeper: [{KEEPER}]\n"
    + f"watch:\n  - conferences: [Board*, VMR_*]\n    channel: {LIVE}\n"
    + "    show: [lobby, roster, started]\n"
)


def register(bot: Bot, monkeypatch: pytest.MonkeyPatch, capsys: Any, *args: str) -> str:
    monkeypatch.setenv("PUBLIC_URL", bot.url)
    assert main(["events", "register", *args]) == 0
    return str(capsys.readouterr().out)


@pytest.fixture
def live(
    bot_with: Callable[..., Bot], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> Iterator[Bot]:
    bot = bot_with(policy=WATCHED, **EVENTS)
    register(bot, monkeypatch, capsys)
    yield bot


def said(message: Any) -> str:
    """What a channel member reads (bold marks aside)."""
    return str(message.shown).replace("*", "")


def posted(seen: Seen, fragment: str, timeout: float = 5.0) -> Any:
    """The new message (not an edit) in the watch's channel that says `fragment`."""
    return seen.wait(
        lambda m: m.kind != "update" and m.channel == LIVE and fragment in said(m), timeout
    )


def cards(seen: Seen, name: str) -> list[Any]:
    """The lobby cards posted (not edits) about `name`."""
    return [
        m
        for m in seen.in_channel()
        if m.kind != "update" and m.channel == LIVE and f"{name} is waiting" in said(m)
    ]


def latest(seen: Seen, ts: str) -> Any:
    return [m for m in seen.in_channel() if m.ts == ts][-1]


def edited(seen: Seen, ts: str, fragment: str, timeout: float = 5.0) -> Any:
    return wait_until(
        lambda: fragment in said(latest(seen, ts)) and latest(seen, ts),
        timeout,
        f"the message {ts} saying {fragment!r}",
    )


def node(simulator: Any, command: str, **body: str) -> None:
    url = f"{simulator.url}/api/admin/command/v1/{command}/"
    httpx.post(url, json=body, auth=simulator.auth).raise_for_status()


def board_room_id(simulator: Any) -> str:
    found = httpx.get(
        simulator.url + "/api/admin/status/v1/conference/",
        params={"name": "Board_Room"},
        auth=simulator.auth,
    ).json()["objects"]
    return str(found[0]["id"])


def test_a_guest_waiting_in_a_locked_room_gets_one_card_and_the_clicker_admits_them(
    live: Bot, simulator: Any, seen: Seen
) -> None:
    guest = simulator.control.arrive("board@example.com", "Gina Guest", protocol="SIP")
    card = posted(seen, "Gina Guest is waiting to join Board_Room")
    assert "gina.guest@guest.example" in str(card.blocks) and "SIP" in str(card.blocks)
    assert [b["text"]["text"] for b in seen.buttons(card)] == ["Admit", "Disconnect"]

    live.slack.click(seen.button(card, "Admit"), user=ADMIN, channel=LIVE)

    edited(seen, card.ts, f"Gina Guest was admitted to Board_Room by <@{ADMIN}>")
    assert node_commands(simulator, "participant/unlock") == [{"participant_id": guest}]
    assert participant(simulator, "Gina Guest")["service_type"] == "conference"
    audited(live, user=ADMIN, command="admit", outcome="success")
    assert len(cards(seen, "Gina Guest")) == 1
    assert not seen.buttons(latest(seen, card.ts))


def test_a_card_click_is_checked_for_the_clicker_scope_included(
    live: Bot, simulator: Any, seen: Seen
) -> None:
    simulator.control.arrive("board@example.com", "Hal Hopeful")
    card = posted(seen, "Hal Hopeful is waiting to join Board_Room")

    live.slack.click(seen.button(card, "Admit"), user=KEEPER, channel=LIVE)  # VMR_* only

    seen.private("in the conferences you moderate")  # as for anyone out of scope
    audited(live, user=KEEPER, command="admit", outcome="invalid")
    assert node_commands(simulator, "participant/unlock") == []
    assert participant(simulator, "Hal Hopeful")["service_type"] == "waiting_room"
    assert "is waiting" in said(latest(seen, card.ts))


def test_a_card_says_when_someone_was_admitted_elsewhere_or_left(
    live: Bot, simulator: Any, seen: Seen
) -> None:
    simulator.control.arrive("board@example.com", "Ian Elsewhere")
    leaver = simulator.control.arrive("board@example.com", "Jo Leaver")
    admitted = posted(seen, "Ian Elsewhere is waiting")
    left = posted(seen, "Jo Leaver is waiting")

    node(simulator, "participant/disconnect", participant_id=leaver)  # hangs up while waiting
    node(simulator, "conference/unlock", conference_id=board_room_id(simulator))  # Admin UI

    edited(seen, admitted.ts, "Ian Elsewhere was admitted to Board_Room elsewhere")
    edited(seen, left.ts, "Jo Leaver left the lobby of Board_Room before being admitted")


def test_a_guest_still_waiting_when_the_meeting_ends_unseen_is_shown_as_gone(
    live: Bot, simulator: Any, seen: Seen
) -> None:
    """Real nodes lose some `participant_disconnected` events: the meeting's end still closes
    the cards of guests who were waiting, so nobody clicks Admit for someone long gone."""
    simulator.control.event_delivery(lose=("participant_disconnected",))
    simulator.control.arrive("board@example.com", "Pat Patient")
    card = posted(seen, "Pat Patient is waiting to join Board_Room")
    everyone = httpx.get(
        simulator.url + "/api/admin/status/v1/participant/",
        params={"conference": "Board_Room"},
        auth=simulator.auth,
    ).json()["objects"]
    assert len(everyone) > 1  # the guest and the people in the room
    for person in everyone:
        node(simulator, "participant/disconnect", participant_id=person["id"])

    posted(seen, "Board_Room has ended after")
    edited(seen, card.ts, "Pat Patient left the lobby of Board_Room before being admitted")
    assert not seen.buttons(latest(seen, card.ts))
    assert len(cards(seen, "Pat Patient")) == 1


def test_a_disconnect_from_the_card_says_by_whom(live: Bot, simulator: Any, seen: Seen) -> None:
    simulator.control.arrive("board@example.com", "Kim Unwanted")
    card = posted(seen, "Kim Unwanted is waiting")

    live.slack.click(seen.button(card, "Disconnect"), user=ADMIN, channel=LIVE)

    edited(
        seen, card.ts, f"Kim Unwanted was disconnected from the lobby of Board_Room by <@{ADMIN}>"
    )
    audited(live, user=ADMIN, command="disconnect", outcome="success")


@pytest.mark.parametrize("bulk", [False, True], ids=["one by one", "bulk"])
def test_repeated_and_reordered_deliveries_make_exactly_one_card_in_the_right_state(
    live: Bot, simulator: Any, seen: Seen, bulk: bool
) -> None:
    if bulk:
        sink = httpx.get(
            simulator.url + "/api/admin/configuration/v1/event_sink/", auth=simulator.auth
        ).json()["objects"][0]
        url = simulator.url + sink["resource_uri"]
        httpx.patch(url, json={"bulk_support": True}, auth=simulator.auth).raise_for_status()
    simulator.control.event_delivery(duplicate_every=1, reverse=True)
    simulator.control.arrive("board@example.com", "Lee Twice")
    card = posted(seen, "Lee Twice is waiting")
    node(simulator, "conference/unlock", conference_id=board_room_id(simulator))

    edited(seen, card.ts, "Lee Twice was admitted to Board_Room elsewhere")
    simulator.control.arrive("board@example.com", "Late Comer")  # unlocked: joins directly
    wait_until(lambda: "Late Comer" in latest_roster(seen, "Board_Room"), what="the roster")
    assert len(cards(seen, "Lee Twice")) == 1
    assert cards(seen, "Late Comer") == []
    assert "is waiting" not in latest(seen, card.ts).shown


def latest_roster(seen: Seen, conference: str) -> str:
    """The roster message of `conference` as it reads now (after its latest edit)."""
    first = [
        m
        for m in seen.in_channel()
        if m.channel == LIVE and m.kind != "update" and m.text.startswith(f"{conference}:")
    ]
    return said(latest(seen, first[0].ts)) if first else ""


def test_the_roster_follows_joins_and_mutes_and_coalesces_a_burst(
    live: Bot, simulator: Any, seen: Seen, slack_api: Any
) -> None:
    simulator.control.arrive("vmr2@meet.example.com", "Mo First")
    wait_until(lambda: "Mo First" in latest_roster(seen, "VMR_2"), what="the first roster")
    posted_roster = [
        m for m in seen.in_channel() if m.text.startswith("VMR_2:") and m.kind != "update"
    ]
    assert len(posted_roster) == 1
    updates_before = len(slack_api.state.calls("chat.update"))
    for index in range(20):
        simulator.control.arrive("vmr2@meet.example.com", f"Burst {index:02d}")

    wait_until(
        lambda: "VMR_2: 23 participants" in latest_roster(seen, "VMR_2"), 10, "the final roster"
    )
    roster = latest_roster(seen, "VMR_2")
    assert "Alice Cooper" in roster and "Dan Brown" in roster  # there before the sink: read once
    assert all(f"Burst {index:02d}" in roster for index in range(17))  # 20 rows at most
    assert "…and 3 more" in str(latest(seen, posted_roster[0].ts).blocks)
    edits = len(slack_api.state.calls("chat.update")) - updates_before
    assert edits <= 8, f"{edits} chat.update calls for 20 joins"
    again = [m for m in seen.in_channel() if m.text.startswith("VMR_2:") and m.kind != "update"]
    assert again == posted_roster


def test_started_and_ended_notices_say_how_long_and_how_many(
    live: Bot, simulator: Any, seen: Seen
) -> None:
    caller = simulator.control.arrive("vmr3@meet.example.com", "Nia Solo")
    posted(seen, "VMR_3 has started")
    in_the_room = "Nia Solo · guest · WebRTC · unmuted\n"
    wait_until(lambda: in_the_room in latest_roster(seen, "VMR_3") + "\n", what="the roster")
    node(simulator, "participant/disconnect", participant_id=caller)

    ended = posted(seen, "VMR_3 has ended after")
    assert "at most 1 participant at once" in said(ended)
    wait_until(lambda: "VMR_3 has ended." in latest_roster(seen, "VMR_3"), what="the last edit")


def test_events_register_is_idempotent_and_check_reports_the_sink(
    live: Bot, simulator: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    again = register(live, monkeypatch, capsys)
    assert "updated the event sink pexbot" in again
    assert "London: already attached" in again and "Oslo: already attached" in again
    sinks = httpx.get(
        simulator.url + "/api/admin/configuration/v1/event_sink/", auth=simulator.auth
    ).json()["objects"]
    assert [s["url"] for s in sinks] == [live.url + "/pexip/events"]
    assert sinks[0]["version"] == 2
    assert "sink-secret-77" not in again

    settings = Settings.load()
    result = asyncio.run(check_event_sink(settings, settings.pexip()))
    assert result.ok and "attached to London, Oslo, New York" in result.detail


def test_a_restarted_bot_edits_the_card_it_posted_before(
    simulator: Any,
    slack_api: Any,
    seen: Seen,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    with serve_bot(simulator, slack_api, tmp_path, monkeypatch, policy=WATCHED, **EVENTS) as bot:
        register(bot, monkeypatch, capsys)
        simulator.control.arrive("board@example.com", "Olu Patient")
        card = posted(seen, "Olu Patient is waiting")
    with serve_bot(simulator, slack_api, tmp_path, monkeypatch, policy=WATCHED, **EVENTS) as bot:
        register(bot, monkeypatch, capsys)  # the sink now points at the new process
        node(simulator, "conference/unlock", conference_id=board_room_id(simulator))
        edited(seen, card.ts, "Olu Patient was admitted to Board_Room elsewhere")
    assert len(cards(seen, "Olu Patient")) == 1


def test_the_records_of_messages_finished_long_ago_are_deleted_by_the_serve(
    bot_with: Callable[..., Bot],
    simulator: Any,
    seen: Seen,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    """A card and the notices of a meeting that ended hours ago, found finished two hours ago
    by an earlier process: the serve deletes them (and where they were posted, and their
    versions) as it handles events; the records of what may still change stay."""
    url = f"sqlite:///{tmp_path / 'pexbot.db'}"
    old = [f"m:lobby:gone-guest:{LIVE}", f"m:notice:oldrun:ended:{LIVE}"]
    asyncio.run(finished_long_ago(url, old))

    bot = bot_with(policy=WATCHED, **EVENTS)
    assert bot.settings.database_url == url
    register(bot, monkeypatch, capsys)
    simulator.control.arrive("board@example.com", "Nia New")
    posted(seen, "Nia New is waiting")

    kept, versions = asyncio.run(stored(url, [*old, *(f"t:{key}" for key in old)]))
    assert kept == []
    assert versions == []
    assert asyncio.run(stored(url, ["c:Board_Room"]))[0] == ["c:Board_Room"]


async def finished_long_ago(url: str, keys: list[str]) -> None:
    long_ago = time.time() - 2 * 3600
    records, edits = LiveRecords(url), MessageEdits(url)
    await records.load()
    for key in keys:
        await records.put(key, {"channel": LIVE, "status": "left", "finished": long_ago, "v": 2})
        await records.put(f"t:{key}", {"ts": "1700000000.000100"})

        async def sent() -> None:
            return None

        await edits.edit(key, 2, sent)
    await records.written()
    await records.close()
    await edits.close()


async def stored(url: str, keys: list[str]) -> tuple[list[str], list[str]]:
    """Which of `keys` the live records hold, and which have a message version."""
    records, edits = LiveRecords(url), MessageEdits(url)
    await records.load()
    held = [key for key in keys if records.get(key) is not None]
    versions = [key for key in keys if await edits.last_version(key) is not None]
    await records.close()
    await edits.close()
    return held, versions


def test_a_429_on_an_edit_is_waited_out_and_the_newest_state_is_sent(
    live: Bot, simulator: Any, seen: Seen, slack_api: Any
) -> None:
    simulator.control.arrive("vmr2@meet.example.com", "Pat Early")
    wait_until(lambda: "Pat Early" in latest_roster(seen, "VMR_2"), what="the first roster")
    slack_api.state.fail("chat.update", 429, retry_after=1.5)
    for name in ("Quin Second", "Ray Third", "Sam Fourth"):
        simulator.control.arrive("vmr2@meet.example.com", name)

    wait_until(lambda: "Sam Fourth" in latest_roster(seen, "VMR_2"), 10, "the newest roster")
    calls = slack_api.state.calls("chat.update")
    refused = [c for c in calls if c.status == 429]
    assert len(refused) == 1
    after = [c for c in calls if c.at > refused[0].at]
    assert after and after[0].at - refused[0].at >= 1.4  # Retry-After waited out
    assert "VMR_2: 6 participants" in latest_roster(seen, "VMR_2")


def test_a_guest_who_names_themselves_like_a_ping_is_shown_literally_on_the_card(
    live: Bot, simulator: Any, seen: Seen
) -> None:
    simulator.control.arrive("board@example.com", "<!channel> <@U0ADMIN01> *Boss*")
    card = posted(seen, "is waiting to join Board_Room")

    formatted = json.dumps([card.text, *mrkdwn_texts(card.blocks)])  # plain_text shows as is
    for hostile in ("<!channel>", "<@U0ADMIN01>", "*Boss*"):
        assert hostile not in formatted
    assert "&lt;!channel&gt;" in formatted


def mrkdwn_texts(node: Any) -> list[str]:
    """Every text Slack formats (mrkdwn objects) in a message's blocks."""
    if isinstance(node, list):
        return [text for item in node for text in mrkdwn_texts(item)]
    if not isinstance(node, dict):
        return []
    own = [node["text"]] if node.get("type") == "mrkdwn" else []
    return own + [text for value in node.values() for text in mrkdwn_texts(value)]
