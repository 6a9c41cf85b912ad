"""Stories of moderators calling people into conferences: typed, or through the form."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.coordination.message_edits import MessageEdits
from handlers.dialling import ENDED
from tests.e2e.conftest import Seen, audited, node_commands, participant
from tests.fixtures.bot import ADMIN, MODERATOR, VIEWER, Bot


def _selected(value: str) -> dict[str, Any]:
    return {"selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


def _only_dial(simulator: Any) -> dict[str, Any]:
    dials = node_commands(simulator, "participant/dial")
    assert len(dials) == 1, dials
    return dials[0]


def test_typed_dial_uses_the_defaults_and_the_channel_sees_the_call_connect(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(answer_delay=0.1)

    bot.slack.command("dial meet@example.com alice@example.com", user=MODERATOR)

    ringing = seen.public(
        f"<@{MODERATOR}> is dialling alice@example.com into VMR_1. Ringing…", timeout=5
    )
    connected = seen.update("alice@example.com into VMR_1. Connected.", timeout=5)
    assert connected.ts == ringing.ts  # the same message, edited in place
    sent = _only_dial(simulator)
    assert sent["conference_alias"] == "meet@example.com"
    assert sent["destination"] == "alice@example.com"
    assert (sent["role"], sent["protocol"], sent["system_location"]) == ("guest", "sip", "London")
    assert "node" not in sent


def test_typed_dial_sends_location_and_name_the_way_the_node_expects(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command(
        "dial vmr2@meet.example.com sip:carol@example.com role=chair protocol=h323 location=Oslo "
        "name=“Carol from Sales”",
        user=MODERATOR,
    )

    seen.public("is dialling sip:carol@example.com into VMR_2")
    sent = _only_dial(simulator)
    assert sent["system_location"] == "Oslo"
    assert sent["remote_display_name"] == "Carol from Sales"
    assert (sent["role"], sent["protocol"]) == ("chair", "h323")
    assert participant(simulator, "Carol from Sales")["conference"] == "VMR_2"


def test_typed_dial_from_a_node_address_sends_no_location(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("dial meet@example.com bob@example.com node=10.0.2.11", user=MODERATOR)

    seen.public("is dialling bob@example.com into VMR_1")
    sent = _only_dial(simulator)
    assert sent["node"] == "10.0.2.11"
    assert "system_location" not in sent


def test_a_call_nobody_answers_is_marked_not_answered(bot: Bot, seen: Seen, simulator: Any) -> None:
    simulator.control.settings(answer_delay=0.2)

    bot.slack.command("dial meet@example.com noanswer@example.com", user=MODERATOR)

    seen.public("is dialling noanswer@example.com into VMR_1. Ringing…")
    seen.update("noanswer@example.com into VMR_1. Not answered", timeout=6)


def test_a_call_answered_into_a_locked_room_says_it_waits_then_that_it_connected(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(answer_delay=0.1)

    bot.slack.command("dial board@example.com dana@example.com", user=ADMIN)

    ringing = seen.public("is dialling dana@example.com into Board_Room. Ringing…")
    waiting = seen.update("Answered, waiting to be admitted (the conference is locked).")
    dana = participant(simulator, "dana@example.com")
    httpx.post(
        f"{simulator.url}/api/admin/command/v1/participant/unlock/",
        json={"participant_id": dana["id"]},
        auth=simulator.auth,
    ).raise_for_status()
    connected = seen.update("dana@example.com into Board_Room. Connected.")
    assert ringing.ts == waiting.ts == connected.ts  # one message, edited as the call went
    time.sleep(0.5)
    shown = [m.shown.rsplit(". ", 1)[-1] for m in seen.in_channel() if m.ts == ringing.ts]
    assert shown == [
        "Ringing…",
        "Answered, waiting to be admitted (the conference is locked).",
        "Connected.",
    ]
    # each edit went through the message's edits: an older state can no longer be sent
    versions = MessageEdits(bot.settings.database_url)
    try:
        key = f"dial:{ringing.channel}:{ringing.ts}:{dana['id']}"
        last = asyncio.run(versions.last_version(key))
    finally:
        asyncio.run(versions.close())
    assert last == ENDED


def test_a_host_name_as_node_is_refused_privately_and_nothing_is_sent(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("dial meet@example.com bob@example.com node=conf.example.com", user=MODERATOR)

    seen.private("`node` must be an IP address")
    assert seen.in_channel() == []
    assert node_commands(simulator) == []
    audited(bot, user=MODERATOR, command="dial", outcome="invalid")


def test_dial_without_any_location_to_place_the_call_from_says_how(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(PEXIP_DEFAULT_LOCATION="")

    bot.slack.command("dial meet@example.com bob@example.com", user=MODERATOR)

    seen.private("`dial` needs `location=<system location>` or `node=<IP address>`")
    assert node_commands(simulator) == []


def test_a_viewer_may_not_dial(bot: Bot, seen: Seen, simulator: Any) -> None:
    simulator.control.reset_stats()

    bot.slack.command("dial meet@example.com bob@example.com", user=VIEWER)

    seen.private("you need the `dial` permission")
    assert simulator.control.stats()["requests_total"] == 0


def test_dial_alone_opens_a_form_with_the_system_locations(bot: Bot, seen: Seen) -> None:
    bot.slack.command("dial", user=MODERATOR)

    loading = seen.view("views.open")
    assert loading["blocks"][0]["text"]["text"] == "Loading…"
    form = seen.view("views.update")
    assert form["callback_id"] == "dial_form"
    location = next(b for b in form["blocks"] if b["block_id"] == "location")
    choices = [option["value"] for option in location["element"]["options"]]
    assert choices == ["London", "Oslo", "New York"]
    assert location["element"]["initial_option"]["value"] == "London"
    assert seen.everything() == []  # nothing is posted until the form is submitted


def test_the_dial_form_opens_at_once_while_earlier_commands_wait_for_a_slow_node(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(commands_at_once=1)
    simulator.control.add_fault(path="/api/admin/command/", latency=3.0)
    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)  # holds the one place for 3 s
    bot.slack.command('unmute "Alice Parkes"', user=MODERATOR)  # waits its turn

    asked = time.monotonic()
    bot.slack.command("dial", user=MODERATOR)

    seen.view("views.open", timeout=2.5)
    assert time.monotonic() - asked < 2.5  # Slack lets a form open only within 3 s
    assert seen.everything() == []  # the mute is still under way
    seen.public(f"<@{MODERATOR}> muted Alice Parkes", timeout=10)
    seen.public(f"<@{MODERATOR}> unmuted Alice Parkes", timeout=10)


def test_submitting_the_dial_form_places_the_call(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command("dial", user=MODERATOR)
    form = seen.view("views.update")

    response = bot.slack.submit(
        form,
        {
            "conference": _selected("vmr2@meet.example.com"),
            "destination": {"value": "dave@example.com"},
            "protocol": _selected("mssip"),
            "role": _selected("chair"),
            "call_type": _selected("audio"),
            "location": _selected("New York"),
            "name": {"value": "Dave"},
        },
        user=MODERATOR,
    )

    assert response.status_code == 200
    assert response.text == ""  # the form closes
    seen.public(f"<@{MODERATOR}> is dialling dave@example.com into VMR_2", channel="C0ROOMS01")
    sent = _only_dial(simulator)
    assert sent["conference_alias"] == "vmr2@meet.example.com"
    assert (sent["protocol"], sent["role"], sent["call_type"]) == ("mssip", "chair", "audio")
    assert (sent["system_location"], sent["remote_display_name"]) == ("New York", "Dave")


def test_a_form_without_a_destination_is_answered_under_the_field(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("dial", user=MODERATOR)
    form = seen.view("views.update")

    response = bot.slack.submit(
        form,
        {"conference": _selected("meet@example.com"), "destination": {"value": "  "}},
        user=MODERATOR,
    )

    assert response.status_code == 200
    assert response.json() == {"response_action": "errors", "errors": {"destination": "Required."}}
    audited(bot, user=MODERATOR, command="dial", outcome="invalid")
    assert node_commands(simulator) == []
    assert seen.in_channel() == []


def test_a_form_that_no_longer_says_where_it_was_opened_places_no_call(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    """The outcome could be told nowhere: the form says so under its first field."""
    bot.slack.command("dial", user=MODERATOR)
    form = {**seen.view("views.update"), "private_metadata": '{"participant": "x"}'}

    response = bot.slack.submit(
        form,
        {
            "conference": _selected("vmr2@meet.example.com"),
            "destination": {"value": "dave@example.com"},
        },
        user=MODERATOR,
    )

    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "run the command again" in answer["errors"]["conference"]
    audited(bot, user=MODERATOR, command="dial", outcome="invalid")
    assert node_commands(simulator) == []


def test_the_form_submission_is_checked_against_whoever_submits_it(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("dial", user=MODERATOR)
    form = seen.view("views.update")

    bot.slack.submit(
        form,
        {"conference": _selected("meet@example.com"), "destination": {"value": "x@example.com"}},
        user=VIEWER,
    )

    seen.private("you need the `dial` permission")
    assert node_commands(simulator) == []


def test_the_conference_picker_offers_aliases_to_a_moderator_and_nothing_to_a_viewer(
    bot: Bot, seen: Seen
) -> None:
    bot.slack.command("dial", user=MODERATOR)
    form = seen.view("views.update")

    offered = bot.slack.suggest(form, "conference_choice", "meet", user=MODERATOR)
    assert offered.status_code == 200
    values = [option["value"] for option in offered.json()["options"]]
    assert values == [
        "meet@example.com",
        "vmr1@meet.example.com",
        "vmr2@meet.example.com",
        "vmr3@meet.example.com",
    ]
    labels = [option["text"]["text"] for option in offered.json()["options"]]
    assert labels[0] == "meet@example.com (VMR_1)"

    refused = bot.slack.suggest(form, "conference_choice", "meet", user=VIEWER)
    assert refused.status_code == 200
    assert refused.json() == {"options": []}
    audited(bot, user=VIEWER, command="dial", outcome="denied", target="conference options")
