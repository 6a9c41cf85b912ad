"""Stories of moderators looking at and acting on whole conferences."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Seen, conference, node_command_names, node_commands
from tests.fixtures.bot import ADMIN, MODERATOR, SCOPED, VIEWER, Bot


def test_conferences_lists_the_running_ones_privately_with_their_buttons(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("conferences", user=MODERATOR)

    listing = seen.private("Running conferences")
    assert "*VMR_1* · 3 participants" in listing.text
    assert "*Board_Room* · 2 participants · locked" in listing.text
    assert "VMR_3" not in listing.text  # configured but idle
    assert seen.labels(listing, near="VMR_1") == ["Participants", "Lock", "Mute guests", "End"]
    assert seen.labels(listing, near="Board_Room")[1] == "Unlock"
    end = seen.button(listing, "End", near="VMR_1")
    assert end["style"] == "danger"
    assert end["confirm"]["style"] == "danger"
    assert "End VMR_1 for 3 participants?" in end["confirm"]["text"]["text"]
    assert seen.in_channel() == []
    assert node_commands(simulator) == []


def test_a_viewer_sees_the_listing_without_buttons_they_cannot_use(bot: Bot, seen: Seen) -> None:
    bot.slack.command("conferences", user=VIEWER)

    listing = seen.private("Running conferences")
    assert seen.labels(listing, near="VMR_1") == ["Participants"]


def test_a_scoped_moderator_sees_only_conferences_in_scope(bot: Bot, seen: Seen) -> None:
    bot.slack.command("conferences", user=SCOPED)

    listing = seen.private("Running conferences")
    assert "VMR_1" in listing.text
    assert "VMR_2" in listing.text
    assert "Board_Room" not in listing.text


def test_participants_lists_name_role_protocol_and_state_with_buttons(bot: Bot, seen: Seen) -> None:
    bot.slack.command("participants VMR_1", user=MODERATOR)

    listing = seen.private("VMR_1: 3 participants")
    assert "*Alice Parkes* · chair · SIP · unmuted, presenting" in listing.text
    assert "*Bob Smith* · guest · WebRTC · unmuted" in listing.text
    assert seen.labels(listing, near="Bob Smith") == ["Mute", "Make host", "Disconnect", "Transfer"]
    disconnect = seen.button(listing, "Disconnect", near="Bob Smith")
    assert disconnect["confirm"]["text"]["text"] == "Disconnect Bob Smith from VMR_1?"
    assert seen.in_channel() == []


def test_participants_of_a_locked_conference_offer_admit_for_whoever_waits(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("participants board@example.com", user=MODERATOR)

    listing = seen.private("Board_Room: 2 participants (locked)")
    assert "*Eve Adams* · guest · WebRTC · unmuted, waiting to be admitted" in listing.text
    assert "Admit" in seen.labels(listing, near="Eve Adams")
    assert "Admit" not in seen.labels(listing, near="Frank Ng")

    bot.slack.click(seen.button(listing, "Admit", near="Eve Adams"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> admitted Eve Adams in Board_Room")
    refreshed = seen.replaced("Board_Room: 2 participants")
    assert "waiting" not in refreshed.text
    assert node_command_names(simulator) == ["participant/unlock"]


def test_participants_of_a_conference_that_is_not_running(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("participants VMR_3", user=MODERATOR)

    seen.private("No running conference matching VMR_3")
    assert seen.in_channel() == []


def test_lock_from_the_listing_is_told_to_the_channel_and_the_listing_refreshes(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("conferences", user=MODERATOR)
    listing = seen.private("Running conferences")

    bot.slack.click(seen.button(listing, "Lock", near="VMR_1"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> locked VMR_1: new participants wait to be admitted.")
    refreshed = seen.replaced("*VMR_1* · 3 participants · locked")
    assert seen.labels(refreshed, near="VMR_1")[1] == "Unlock"
    assert conference(simulator, "VMR_1")["is_locked"] is True  # type: ignore[index]
    assert node_command_names(simulator) == ["conference/lock"]


def test_typed_lock_and_unlock(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command("lock meet@example.com", user=MODERATOR)
    seen.public(f"<@{MODERATOR}> locked VMR_1")
    bot.slack.command("unlock VMR_1", user=MODERATOR)
    seen.public(f"<@{MODERATOR}> unlocked VMR_1: everyone waiting was let in.")

    assert node_command_names(simulator) == ["conference/lock", "conference/unlock"]
    assert conference(simulator, "VMR_1")["is_locked"] is False  # type: ignore[index]


def test_mute_guests_and_unmute_guests(bot: Bot, seen: Seen, simulator: Any) -> None:
    vmr_1 = conference(simulator, "VMR_1")["id"]  # type: ignore[index]

    bot.slack.command("mute-guests VMR_1", user=MODERATOR)
    seen.public(f"<@{MODERATOR}> muted all guests in VMR_1.")
    bot.slack.command("conferences", user=MODERATOR)
    listing = seen.private("VMR_1* · 3 participants · guests muted")
    assert "Unmute guests" in seen.labels(listing, near="VMR_1")

    bot.slack.command("unmute-guests VMR_1", user=MODERATOR)
    seen.public(f"<@{MODERATOR}> unmuted all guests in VMR_1.")
    assert node_commands(simulator) == [{"conference_id": vmr_1}, {"conference_id": vmr_1}]
    assert node_command_names(simulator) == ["conference/mute_guests", "conference/unmute_guests"]


def test_end_asks_first_naming_the_conference_and_who_would_be_cut_off(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("end VMR_1", user=MODERATOR)

    question = seen.private("End VMR_1 for 3 participants?")
    assert seen.labels(question) == ["End VMR_1", "Cancel"]
    assert seen.in_channel() == []
    assert node_commands(simulator) == []  # nothing happens until it is confirmed
    assert conference(simulator, "VMR_1") is not None

    bot.slack.click(seen.button(question, "End VMR_1"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> ended VMR_1.")
    seen.deleted()  # the question goes away once answered
    assert node_command_names(simulator) == ["conference/disconnect"]
    assert conference(simulator, "VMR_1") is None


def test_the_confirmation_is_checked_against_whoever_clicks_it(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("end VMR_1", user=ADMIN)
    question = seen.private("End VMR_1 for 3 participants?")

    bot.slack.click(seen.button(question, "End VMR_1"), user=VIEWER)

    seen.private("you need the `end` permission")
    assert node_commands(simulator) == []


def test_end_from_the_listing_acts_once_slack_confirmed_it(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("conferences", user=MODERATOR)
    listing = seen.private("Running conferences")

    bot.slack.click(seen.button(listing, "End", near="VMR_2"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> ended VMR_2.")
    refreshed = seen.replaced("Running conferences")
    assert "VMR_2" not in refreshed.text
    assert node_command_names(simulator) == ["conference/disconnect"]


def test_participants_button_in_the_listing_shows_that_conference(bot: Bot, seen: Seen) -> None:
    bot.slack.command("conferences", user=VIEWER)
    listing = seen.private("Running conferences")

    bot.slack.click(seen.button(listing, "Participants", near="VMR_2"), user=VIEWER)

    seen.private("VMR_2: 2 participants")


def test_sync_runs_a_template(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command("sync 1", user=ADMIN)

    seen.public(f"<@{ADMIN}> synced template 1.")
    assert node_commands(simulator, "conference/sync") == [{"conference_sync_template_id": "1"}]


def test_sync_needs_its_own_permission(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command("sync 1", user=MODERATOR)

    seen.private("you need the `sync` permission")
    assert node_commands(simulator) == []
