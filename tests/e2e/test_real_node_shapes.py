"""Stories against what real management nodes send (shared/pexip-docs/real-node-facts.md):
the roster tells the truth, buttons and commands follow what each call supports, one odd
object hides nothing, dial follow-ups and restores read the node as it really writes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import (
    Seen,
    audited,
    backup_files,
    node_command_names,
    node_commands,
    participant,
    participants,
    wait_until,
)
from tests.fixtures import real_node
from tests.fixtures.bot import ADMIN, MODERATOR, Bot

STREAM = "rtmp://live.example.com/app/stream-key"


def _dial_stream(bot: Bot, seen: Seen, simulator: Any, alias: str = "meet@example.com") -> str:
    """Dial a stream from Slack; its participant id once it shows on the node."""
    bot.slack.command(f"dial {alias} {STREAM} protocol=rtmp", user=MODERATOR)
    seen.public(f"is dialling {STREAM}")
    found = wait_until(
        lambda: [p for p in participants(simulator) if p["destination_alias"] == STREAM],
        what="the stream",
    )
    return str(found[0]["id"])


def test_the_roster_shows_who_muted_whom_hold_and_no_media_without_calling_it_connecting(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command('mute "Alice Parkes"', user=MODERATOR)
    seen.public("muted Alice Parkes in VMR_1")

    bot.slack.command("participants VMR_1", user=MODERATOR)
    vmr1 = seen.private("VMR_1: 3 participants")
    assert "*Alice Parkes* · chair · SIP · muted by a moderator, presenting" in vmr1.text
    assert "*Carol Diaz* · guest · H323 · muted themselves" in vmr1.text
    # connected with `has_media: false` (facts §1): in the room, not "connecting"
    assert "*Bob Smith* · guest · WebRTC · unmuted, no audio or video" in vmr1.text
    assert "connecting" not in vmr1.text
    assert seen.labels(vmr1, near="Carol Diaz") == ["Mute", "Make host", "Disconnect", "Transfer"]

    bot.slack.command("participants VMR_2", user=MODERATOR)
    vmr2 = seen.private("VMR_2: 2 participants")
    assert "*Dan Brown* · chair · SIP · unmuted, on hold" in vmr2.text


def test_a_stream_is_shown_streaming_without_mute_or_transfer_and_typed_mute_is_refused(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    stream = _dial_stream(bot, seen, simulator)
    dial = node_commands(simulator, "participant/dial")[0]
    assert (dial["protocol"], dial["streaming"]) == ("rtmp", True)
    assert dial["keep_conference_alive"] == "keep_conference_alive_never"
    wait_until(lambda: participant(simulator, STREAM)["service_type"] == "conference" or None)

    bot.slack.command("participants VMR_1", user=MODERATOR)
    listing = seen.private("VMR_1: 4 participants")
    assert f"*{STREAM}* · guest · RTMP · streaming" in listing.text
    assert seen.labels(listing, near=STREAM) == ["Disconnect"]

    simulator.control.reset_stats()
    bot.slack.command(f"mute {stream}", user=MODERATOR)
    refusal = seen.private("cannot be muted")
    assert "a stream or recording does not support it" in refusal.text
    bot.slack.command(f"transfer {stream} to vmr2@meet.example.com", user=MODERATOR)
    seen.private("cannot be transferred")
    assert node_command_names(simulator) == []
    assert [m.text for m in seen.in_channel() if "cannot" in m.text] == []
    audited(bot, user=MODERATOR, command="mute", outcome="invalid")


def test_a_stream_alone_does_not_keep_the_conference_alive(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(answer_delay=0.05)
    _dial_stream(bot, seen, simulator, alias="vmr3@meet.example.com")
    bot.slack.command("dial vmr3@meet.example.com zed@example.com role=chair", user=MODERATOR)
    seen.public("is dialling zed@example.com into VMR_3")
    zed = wait_until(lambda: participants(simulator, display_name="zed@example.com"))[0]

    bot.slack.command(f"disconnect {zed['id']}", user=MODERATOR)

    seen.public("disconnected zed@example.com in VMR_3")
    assert [p for p in participants(simulator) if p["destination_alias"] == STREAM] == []


def test_admit_on_someone_not_waiting_is_refused_privately_and_sends_nothing(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("admit Bob", user=MODERATOR)

    refusal = seen.private("Bob Smith in VMR_1 is not waiting to be admitted")
    assert "they are already in VMR_1" in refusal.text
    assert node_commands(simulator) == []
    assert seen.in_channel() == []


def test_a_conference_whose_guests_wait_for_the_host_is_flagged(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(answer_delay=0.05)
    bot.slack.command("dial vmr3@meet.example.com guest@example.com", user=MODERATOR)
    seen.public("is dialling guest@example.com into VMR_3")
    wait_until(lambda: participant(simulator, "guest@example.com")["service_type"] == "conference")

    bot.slack.command("participants VMR_3", user=MODERATOR)
    seen.private("VMR_3: 1 participant (waiting for the host)")
    bot.slack.command("conferences", user=MODERATOR)
    listing = seen.private("Running conferences")
    assert "*VMR_3* · 1 participant · waiting for the host" in listing.text
    assert "*VMR_1* · 3 participants\n" in listing.text + "\n"


def test_a_null_name_and_an_unreadable_participant_hide_nobody_else(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    real = participants(simulator, conference="VMR_1")
    alice = next(p for p in real if p["display_name"] == "Alice Parkes")
    alice["display_name"] = None  # a real node may send null for any string
    unreadable = {**real[1], "id": None}
    odd = real_node.participant(
        id="7c9e6679-7425-40de-944b-e07fc1f90ae7", conference="VMR_1", protocol="GHM",
        service_type="media_playback", display_name="Meet Gateway", call_direction="out",
    )  # fmt: skip
    body = real_node.envelope(*real, unreadable, odd)
    simulator.control.add_fault(
        method="GET", path="/api/admin/status/v1/participant/", status=200, body=body
    )

    bot.slack.command("participants VMR_1", user=MODERATOR)

    listing = seen.private("VMR_1: 5 participants")
    assert "*sip:alice.parkes@example.com* · chair · SIP" in listing.text  # named by alias
    assert "*Carol Diaz* · guest · H323" in listing.text
    assert "*Meet Gateway* · guest · GHM · muted themselves, media_playback" in listing.text
    assert "1 participant could not be shown" in listing.text
    assert "cannot read" in listing.text  # says why, once, not instead of the listing

    bot.slack.command("mute carol", user=MODERATOR)  # name lookups still work
    seen.public(f"<@{MODERATOR}> muted Carol Diaz in VMR_1")


def test_the_dial_follow_up_says_connected_for_a_leg_in_the_room_without_media(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(answer_delay=60)  # the simulator would keep it "connecting"
    bot.slack.command("dial meet@example.com lee@example.com", user=MODERATOR)
    seen.public("is dialling lee@example.com into VMR_1. Ringing…")
    ringing = wait_until(lambda: participants(simulator, display_name="lee@example.com"))[0]
    assert (ringing["service_type"], ringing["has_media"]) == ("connecting", False)
    in_the_room = real_node.connected_web_chair(
        id=ringing["id"], conference="VMR_1", display_name="lee@example.com", call_direction="out"
    )
    simulator.control.add_fault(
        method="GET",
        path=f"/api/admin/status/v1/participant/{ringing['id']}/",
        status=200,
        body=in_the_room,
    )

    seen.update("is dialling lee@example.com into VMR_1. Connected.", timeout=5)


def test_restore_when_the_node_version_cannot_be_read_asks_for_an_explicit_yes(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(management_version="unknown")
    current = next(f for f in backup_files(simulator) if f["version"] == "36")

    bot.slack.command(f"backup restore {current['filename']}", user=ADMIN)

    question = seen.private("could not read the management node's software version")
    assert "it reports “unknown”" in question.text
    assert "Go ahead only if you know the versions match" in question.text
    assert node_commands(simulator) == []

    bot.slack.click(seen.button(question, "Restore anyway"), user=ADMIN)

    seen.public(f"<@{ADMIN}> restored the management node from {current['filename']}.")
    assert len(node_commands(simulator, "platform/backup_restore")) == 1


def test_restore_on_a_point_release_matches_the_real_version_string(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.settings(version="34.1", build="77123.0.0")
    assert participants(simulator)  # the node is up
    made = simulator.control.add_backup(65536)
    assert (made["version"], made["build"]) == ("34.1", "77123.0.0")

    bot.slack.command(f"backup restore {made['filename']}", user=ADMIN)

    question = seen.private(f"Restore the management node from `{made['filename']}`")
    assert "version 34.1 (build 77123.0.0)" in question.text
    assert "could not" not in question.text
    bot.slack.click(seen.button(question, "Restore"), user=ADMIN)
    seen.public(f"<@{ADMIN}> restored the management node from {made['filename']}.")


def test_a_leg_that_cannot_be_disconnected_gets_no_button_and_typed_disconnect_is_refused(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    vmr1 = participants(simulator, conference="VMR_1")
    fixed = real_node.participant(conference="VMR_1", is_disconnect_supported=False)
    simulator.control.add_fault(
        method="GET",
        path="/api/admin/status/v1/participant/",
        status=200,
        body=real_node.envelope(*vmr1, fixed),
    )

    bot.slack.command("participants VMR_1", user=MODERATOR)
    listing = seen.private("VMR_1: 4 participants")
    assert seen.labels(listing, near="Dana Ruiz") == ["Mute", "Make host", "Transfer"]

    bot.slack.command("disconnect Dana", user=MODERATOR)
    refusal = seen.private("Dana Ruiz in VMR_1 cannot be disconnected")
    assert "this call does not support it" in refusal.text
    assert node_commands(simulator) == []


def test_an_unreadable_conference_is_counted_and_the_others_listed(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    running = httpx.get(
        simulator.url + "/api/admin/status/v1/conference/",
        params={"limit": "0"},
        auth=simulator.auth,
    ).json()["objects"]
    broken = real_node.conference(id=None, name="Ghost")
    simulator.control.add_fault(
        method="GET",
        path="/api/admin/status/v1/conference/",
        status=200,
        body=real_node.envelope(*running, broken),
    )

    bot.slack.command("conferences", user=ADMIN)

    listing = seen.private("Running conferences")
    assert "*VMR_1* · 3 participants" in listing.text
    assert "*Board_Room* · 2 participants · locked" in listing.text
    assert "1 conference could not be shown" in listing.text
    assert "Ghost" not in listing.text
