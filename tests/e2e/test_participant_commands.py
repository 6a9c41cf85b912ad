"""Stories of moderators acting on participants from Slack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Seen, node_commands, participant, participants
from tests.fixtures.bot import ADMIN, MODERATOR, POLICY, SCOPED, VIEWER, Bot

# The scoped VMR moderator may also transfer, still only within VMR_* and *@meet.example.com.
SCOPED_TRANSFER_POLICY = POLICY.replace(
    "allow: [conferences, participants, mute, unmute, lock, unlock, role, layout]",
    "allow: [conferences, participants, mute, unmute, lock, unlock, role, layout, transfer]",
)


def test_moderator_mutes_alice_and_the_channel_sees_it(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    response = bot.slack.command('mute "Alice Parkes"', user=MODERATOR)
    assert response.status_code == 200
    seen.public(f"<@{MODERATOR}> muted Alice Parkes in VMR_1")
    assert participant(simulator, "Alice Parkes")["is_muted"] is True
    assert [c["path"] for c in simulator.control.stats()["commands"]] == [
        "/api/admin/command/v1/participant/mute/"
    ]


def test_moderator_unmutes_bob_named_in_his_conference(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command('mute "Bob Smith"', user=MODERATOR)
    seen.public("muted Bob Smith in VMR_1")

    bot.slack.command("unmute bob in VMR_1", user=MODERATOR)

    seen.public(f"<@{MODERATOR}> unmuted Bob Smith in VMR_1")
    assert participant(simulator, "Bob Smith")["is_muted"] is False
    bob = participant(simulator, "Bob Smith")["id"]
    assert node_commands(simulator, "participant/unmute") == [{"participant_id": bob}]


def test_moderator_disconnects_a_participant_by_id(bot: Bot, seen: Seen, simulator: Any) -> None:
    carol = participant(simulator, "Carol Diaz")["id"]

    bot.slack.command(f"disconnect {carol}", user=MODERATOR)

    seen.public(f"<@{MODERATOR}> disconnected Carol Diaz in VMR_1")
    assert node_commands(simulator, "participant/disconnect") == [{"participant_id": carol}]
    assert "Carol Diaz" not in [p["display_name"] for p in participants(simulator)]


def test_moderator_admits_eve_from_the_waiting_room(bot: Bot, seen: Seen, simulator: Any) -> None:
    assert participant(simulator, "Eve Adams")["service_type"] == "waiting_room"

    bot.slack.command("admit Eve", user=MODERATOR)

    seen.public(f"<@{MODERATOR}> admitted Eve Adams in Board_Room")
    assert participant(simulator, "Eve Adams")["service_type"] == "conference"
    assert len(node_commands(simulator, "participant/unlock")) == 1


def test_a_name_nobody_has_is_said_privately_and_nothing_is_sent(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("mute Zelda", user=MODERATOR)
    seen.private("No participant matching 'Zelda'")

    bot.slack.command("mute Bob in VMR_2", user=MODERATOR)
    seen.private("No participant matching 'Bob' in VMR_2")

    assert seen.in_channel() == []
    assert node_commands(simulator) == []


def test_an_unknown_participant_id_is_said_privately(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command("mute 00000000-0000-4000-8000-000000000000", user=MODERATOR)

    seen.private("No participant has the id 00000000-0000-4000-8000-000000000000")
    assert node_commands(simulator) == []


def test_viewer_is_denied_privately_and_nothing_reaches_the_node(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.reset_stats()
    bot.slack.command("mute Alice Parkes", user=VIEWER)
    seen.private("you need the `mute` permission")
    assert simulator.control.stats()["requests_total"] == 0


def test_ambiguous_name_offers_a_choice_and_the_pick_acts(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("mute alice", user=ADMIN)
    choice = seen.private("2 participants match")
    bot.slack.click(seen.button(choice, "Alice Cooper · VMR_2 · WebRTC"), user=ADMIN)
    seen.public(f"<@{ADMIN}> muted Alice Cooper in VMR_2")
    assert participant(simulator, "Alice Cooper")["is_muted"] is True
    assert participant(simulator, "Alice Parkes")["is_muted"] is False


def test_moderator_transfers_bob_to_another_conference(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bob = participant(simulator, "Bob Smith")["id"]

    bot.slack.command("transfer Bob to vmr2@meet.example.com role=chair", user=MODERATOR)

    seen.public(
        f"<@{MODERATOR}> transferred Bob Smith in VMR_1 to VMR_2 (vmr2@meet.example.com) as chair"
    )
    assert node_commands(simulator, "participant/transfer") == [
        {"participant_id": bob, "conference_alias": "vmr2@meet.example.com", "role": "chair"}
    ]
    moved = participant(simulator, "Bob Smith")
    assert (moved["conference"], moved["role"]) == ("VMR_2", "chair")


def test_scoped_moderator_may_transfer_only_between_conferences_in_scope(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=SCOPED_TRANSFER_POLICY)

    bot.slack.command("transfer Bob to board@example.com", user=SCOPED)
    seen.private("your `transfer` permission does not cover conference board@example.com")
    bot.slack.command("transfer Frank to vmr2@meet.example.com", user=SCOPED)
    seen.private("No participant matching 'Frank' in the conferences you moderate")
    assert not [m for m in seen.everything() if "Board_Room" in m.text]
    assert node_commands(simulator) == []
    assert seen.in_channel() == []

    bot.slack.command("transfer Bob to vmr2@meet.example.com", user=SCOPED)
    seen.public(f"<@{SCOPED}> transferred Bob Smith in VMR_1 to VMR_2")
    assert participant(simulator, "Bob Smith")["conference"] == "VMR_2"


def test_transfer_to_an_alias_nobody_has_is_said_privately(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("transfer Bob to nowhere@example.com", user=MODERATOR)

    seen.private("No conference has the alias nowhere@example.com")
    assert node_commands(simulator) == []


def test_the_node_refusing_a_command_is_said_in_the_channel_naming_who_tried(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.add_fault(path="/api/admin/command/v1/participant/mute/", status=400)

    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)

    seen.public(f"<@{MODERATOR}> tried to mute Alice Parkes in VMR_1, but it did not happen.")
    assert participant(simulator, "Alice Parkes")["is_muted"] is False


def test_a_node_error_while_looking_the_name_up_is_said_privately_and_nothing_is_sent(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.add_fault(path="/api/admin/status/v1/participant/", status=401)

    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)

    seen.private("Nothing was done. The management node refused pexbot's API account")
    assert seen.in_channel() == []
    assert node_commands(simulator) == []
