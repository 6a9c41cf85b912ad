"""Buttons act for the person who clicks them, whoever posted the message they are in."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import (
    Seen,
    audited,
    node_command_names,
    node_commands,
    participant,
)
from tests.fixtures.bot import ADMIN, MODERATOR, SCOPED, VIEWER, Bot


def _selected(value: str) -> dict[str, Any]:
    return {"selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


def _listing(bot: Bot, seen: Seen, conference: str, user: str = ADMIN) -> Any:
    bot.slack.command(f"participants {conference}", user=user)
    return seen.private(f"{conference}: ")


def test_a_viewer_clicking_mute_in_an_admins_listing_is_denied(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    listing = _listing(bot, seen, "VMR_1")

    bot.slack.click(seen.button(listing, "Mute", near="Bob Smith"), user=VIEWER)

    denial = seen.private("you need the `mute` permission")
    assert denial.user == VIEWER
    assert seen.in_channel() == []
    assert node_commands(simulator) == []
    assert participant(simulator, "Bob Smith")["is_muted"] is False
    audited(bot, user=VIEWER, command="mute", outcome="denied", channel="C0ROOMS01")


def test_a_scoped_moderator_clicking_lock_outside_their_scope_is_denied(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("conferences", user=ADMIN)
    listing = seen.private("Running conferences")

    bot.slack.click(seen.button(listing, "Lock", near="VMR_2"), user=SCOPED)
    seen.public(f"<@{SCOPED}> locked VMR_2")
    bot.slack.click(seen.button(listing, "Unlock", near="Board_Room"), user=SCOPED)

    seen.private("your `unlock` permission does not cover conference Board_Room")
    assert node_command_names(simulator) == ["conference/lock"]
    audited(bot, user=SCOPED, command="unlock", outcome="denied", target="Board_Room")


def test_mute_in_the_listing_acts_and_the_listing_shows_the_new_state(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    listing = _listing(bot, seen, "VMR_1", user=MODERATOR)

    bot.slack.click(seen.button(listing, "Mute", near="Bob Smith"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> muted Bob Smith in VMR_1")
    refreshed = seen.replaced("*Bob Smith* · guest · WebRTC · muted")
    assert seen.labels(refreshed, near="Bob Smith")[0] == "Unmute"
    assert participant(simulator, "Bob Smith")["is_muted"] is True


def test_disconnect_in_the_listing_acts_once_slack_confirmed_it(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    listing = _listing(bot, seen, "VMR_1", user=MODERATOR)

    bot.slack.click(seen.button(listing, "Disconnect", near="Carol Diaz"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> disconnected Carol Diaz in VMR_1")
    refreshed = seen.replaced("VMR_1: 2 participants")
    assert "Carol Diaz" not in refreshed.text
    assert node_command_names(simulator) == ["participant/disconnect"]


def test_picking_one_of_several_matches_acts_on_that_one_and_clears_the_question(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("disconnect alice", user=MODERATOR)
    choice = seen.private("2 participants match “alice”. Which one?")
    assert seen.labels(choice) == ["Alice Parkes · VMR_1 · SIP", "Alice Cooper · VMR_2 · WebRTC"]
    assert node_commands(simulator) == []

    bot.slack.click(seen.button(choice, "Alice Parkes · VMR_1 · SIP"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> disconnected Alice Parkes in VMR_1")
    seen.deleted()
    alice = participant(simulator, "Alice Cooper")
    assert alice["conference"] == "VMR_2"  # the other Alice is left alone
    assert len(node_commands(simulator, "participant/disconnect")) == 1


def test_a_pick_is_checked_against_whoever_clicks_it(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command("mute alice", user=ADMIN)
    choice = seen.private("2 participants match")

    bot.slack.click(seen.button(choice, "Alice Parkes · VMR_1 · SIP"), user=VIEWER)

    seen.private("you need the `mute` permission")
    assert node_commands(simulator) == []


def test_the_transfer_form_opens_at_once_while_earlier_commands_wait_for_a_slow_node(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(commands_at_once=1)
    listing = _listing(bot, seen, "VMR_1", user=MODERATOR)
    simulator.control.add_fault(path="/api/admin/command/", latency=3.0)
    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)  # holds the one place for 3 s

    asked = time.monotonic()
    bot.slack.click(seen.button(listing, "Transfer", near="Bob Smith"), user=MODERATOR)

    assert seen.view("views.open", timeout=2.5)["callback_id"] == "transfer_form"
    assert time.monotonic() - asked < 2.5  # Slack lets a form open only within 3 s
    seen.public(f"<@{MODERATOR}> muted Alice Parkes", timeout=10)


def test_the_transfer_button_opens_a_form_and_its_submission_moves_the_participant(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    listing = _listing(bot, seen, "VMR_1", user=MODERATOR)

    bot.slack.click(seen.button(listing, "Transfer", near="Bob Smith"), user=MODERATOR)

    form = seen.view("views.open")
    assert form["callback_id"] == "transfer_form"
    assert form["blocks"][0]["text"]["text"] == "Move Bob Smith to another conference."
    assert seen.everything()[1:] == []  # only the listing so far
    response = bot.slack.submit(
        form,
        {"to_alias": _selected("vmr2@meet.example.com"), "role": _selected("chair")},
        user=MODERATOR,
    )
    assert response.status_code == 200
    seen.public(f"<@{MODERATOR}> transferred Bob Smith in VMR_1 to VMR_2 (vmr2@meet.example.com)")
    bob = participant(simulator, "Bob Smith")
    assert node_commands(simulator, "participant/transfer") == [
        {"participant_id": bob["id"], "conference_alias": "vmr2@meet.example.com", "role": "chair"}
    ]
    assert bob["conference"] == "VMR_2"
    refreshed = seen.replaced("VMR_1: 2 participants")  # the listing it came from
    assert "Bob Smith" not in refreshed.text


def test_a_transfer_form_without_a_target_is_answered_under_the_field(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    listing = _listing(bot, seen, "VMR_1", user=MODERATOR)
    bot.slack.click(seen.button(listing, "Transfer", near="Bob Smith"), user=MODERATOR)
    form = seen.view("views.open")

    response = bot.slack.submit(form, {}, user=MODERATOR)

    assert response.json() == {"response_action": "errors", "errors": {"to_alias": "Required."}}
    audited(bot, user=MODERATOR, command="transfer", outcome="invalid")
    assert node_commands(simulator) == []


def test_a_viewer_clicking_transfer_gets_no_form(bot: Bot, seen: Seen, simulator: Any) -> None:
    listing = _listing(bot, seen, "VMR_1")

    bot.slack.click(seen.button(listing, "Transfer", near="Bob Smith"), user=VIEWER)

    seen.private("you need the `transfer` permission")
    assert seen.state.calls("views.open") == []
    assert node_commands(simulator) == []


def test_cancel_takes_the_question_away_and_nothing_happens(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("end VMR_2", user=MODERATOR)
    question = seen.private("End VMR_2 for 2 participants?")

    bot.slack.click(seen.button(question, "Cancel"), user=MODERATOR)

    seen.deleted()
    assert seen.in_channel() == []
    assert node_commands(simulator) == []
