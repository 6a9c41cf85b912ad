"""Stories of moderators acting on participants from Slack."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Seen
from tests.fixtures.bot import ADMIN, MODERATOR, VIEWER, Bot


def participant(simulator: Any, name: str) -> dict[str, Any]:
    import httpx

    objects = httpx.get(
        simulator.url + "/api/admin/status/v1/participant/",
        params={"display_name": name},
        auth=(simulator.username, simulator.password),
    ).json()["objects"]
    assert objects, name
    return dict(objects[0])


def test_moderator_mutes_alice_and_the_channel_sees_it(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    response = bot.slack.command('mute "Alice Parkes"', user=MODERATOR)
    assert response.status_code == 200
    seen.public(f"<@{MODERATOR}> muted Alice Parkes (VMR_1)")
    assert participant(simulator, "Alice Parkes")["is_muted"] is True
    assert [c["path"] for c in simulator.control.stats()["commands"]] == [
        "/api/admin/command/v1/participant/mute/"
    ]


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
    seen.public(f"<@{ADMIN}> muted Alice Cooper (VMR_2)")
    assert participant(simulator, "Alice Cooper")["is_muted"] is True
    assert participant(simulator, "Alice Parkes")["is_muted"] is False
