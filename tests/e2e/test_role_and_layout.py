"""Stories of moderators making someone a host or a guest, and changing a conference's layout,
without leaving Slack."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.e2e.conftest import Seen, audited, node_commands, participant
from tests.fixtures.bot import MODERATOR, SCOPED, VIEWER, Bot


def test_role_makes_a_guest_a_host_with_the_vendors_word(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("role Bob chair", user=MODERATOR)

    seen.public(f"<@{MODERATOR}> made Bob Smith in VMR_1 a host (chair).")
    bob = participant(simulator, "Bob Smith")
    assert node_commands(simulator, "participant/role") == [
        {"participant_id": bob["id"], "role": "chair"}
    ]
    assert bob["role"] == "chair"
    audited(bot, command="role", outcome="success", target="Bob Smith (VMR_1)", detail="chair")


def test_role_host_is_taken_as_chair_and_a_person_already_in_the_role_is_told_privately(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command('role "Alice Parkes" host', user=MODERATOR)

    said = seen.private("is already a host (chair)")
    assert "Alice Parkes in VMR_1" in said.text
    assert node_commands(simulator) == []


def test_role_with_a_word_that_is_no_role_gets_the_usage_and_no_node_call(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("role Bob boss", user=MODERATOR)

    said = seen.private("`role` must be `chair` or `guest`, not `boss`")
    assert "Usage: `/pexip role &lt;participant&gt; chair|guest`" in said.text
    assert simulator.control.stats()["requests_total"] == 0


def test_roster_rows_offer_make_host_or_make_guest_and_the_click_acts(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("participants VMR_1", user=MODERATOR)
    listing = seen.private("VMR_1: 3 participants")
    assert "Make guest" in seen.labels(listing, near="Alice Parkes")
    assert "Make host" in seen.labels(listing, near="Bob Smith")
    assert "Make guest" not in seen.labels(listing, near="Bob Smith")

    bot.slack.click(seen.button(listing, "Make host", near="Bob Smith"), user=MODERATOR)

    seen.public(f"<@{MODERATOR}> made Bob Smith in VMR_1 a host (chair).")
    refreshed = seen.replaced("VMR_1: 3 participants")
    assert "*Bob Smith* · chair" in refreshed.text
    assert [body["role"] for body in node_commands(simulator, "participant/role")] == ["chair"]


def test_a_viewer_sees_no_role_buttons(bot: Bot, seen: Seen) -> None:
    bot.slack.command("participants VMR_1", user=VIEWER)

    listing = seen.private("VMR_1: 3 participants")
    assert "Make host" not in seen.labels(listing, near="Bob Smith")


def test_layout_sends_a_flat_transform_layout_body(bot: Bot, seen: Seen, simulator: Any) -> None:
    bot.slack.command('layout VMR_1 2x2 host=1:7 guest=9:0 text="Board meeting"', user=MODERATOR)

    said = seen.public(f"<@{MODERATOR}> changed the layout of VMR_1 to 4:0")
    assert "hosts 1:7, guests 9:0, overlay text “Board meeting”" in said.text
    (body,) = node_commands(simulator, "conference/transform_layout")
    assert set(body) == {
        "conference_id",
        "layout",
        "host_layout",
        "guest_layout",
        "free_form_overlay_text",
    }  # flat: no `transforms` wrapper
    assert (body["layout"], body["host_layout"], body["guest_layout"]) == ("4:0", "1:7", "9:0")
    assert body["free_form_overlay_text"] == "Board meeting"
    audited(bot, command="layout", outcome="success", target="VMR_1", detail="4:0")


def test_an_unknown_layout_lists_the_valid_ones_and_makes_no_node_call(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("layout VMR_1 3:3", user=MODERATOR)

    said = seen.private("`3:3` is not a layout Pexip knows")
    for name in ("1:0", "1:7", "1:21", "2:21", "1:33", "4:0", "9:0", "16:0", "25:0", "5:7"):
        assert f"`{name}`" in said.text
    assert simulator.control.stats()["requests_total"] == 0
    audited(bot, command="layout", outcome="invalid")


def test_overlay_text_over_the_vendors_limit_is_refused_with_the_limit(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command(f'layout VMR_1 1:7 text="{"x" * 1001}"', user=MODERATOR)

    seen.private("may have at most 1000 characters; that one has 1001")
    assert simulator.control.stats()["requests_total"] == 0


def test_the_conference_listing_offers_a_layout_choice_that_acts(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("conferences", user=MODERATOR)
    listing = seen.private("Running conferences")
    choice = seen.choice(listing, near="VMR_1")
    assert choice["placeholder"]["text"] == "Layout"
    assert [o["text"]["text"].split(" · ")[0] for o in choice["options"]] == [
        *("1:0", "1:7", "1:21", "2:21", "1:33", "4:0", "9:0", "16:0", "25:0", "5:7")
    ]
    assert all(len(o["value"]) <= 150 for o in choice["options"])

    bot.slack.choose(choice, "5:7", user=MODERATOR)

    seen.public(f"<@{MODERATOR}> changed the layout of VMR_1 to 5:7")
    (body,) = node_commands(simulator, "conference/transform_layout")
    assert body["layout"] == "5:7"


def test_a_scoped_moderator_cannot_change_the_layout_outside_their_scope(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("layout Board_Room 1:7", user=SCOPED)

    seen.private("your `layout` permission does not cover conference Board_Room")
    assert node_commands(simulator) == []


def test_a_viewer_is_told_which_permission_is_missing_and_nothing_is_asked(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command("layout VMR_1 1:7", user=VIEWER)

    seen.private("you need the `layout` permission")
    assert simulator.control.stats()["requests_total"] == 0


# --- the simulator, as a real node ---------------------------------------------------------------


def _post(simulator: Any, command: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{simulator.url}/api/admin/command/v1/{command}/",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
        auth=simulator.auth,
    )


def test_the_simulator_refuses_a_host_role_and_a_wrapped_or_unknown_layout(
    simulator: Any,
) -> None:
    bob = participant(simulator, "Bob Smith")
    host = _post(simulator, "participant/role", {"participant_id": bob["id"], "role": "host"})
    assert host.status_code == 400 and "role" in host.text

    conferences = httpx.get(
        simulator.url + "/api/admin/status/v1/conference/",
        params={"name": "VMR_1"},
        auth=simulator.auth,
    ).json()["objects"]
    conference_id = conferences[0]["id"]
    wrapped = _post(
        simulator,
        "conference/transform_layout",
        {"conference_id": conference_id, "transforms": {"layout": "1:7"}},
    )
    assert wrapped.status_code == 400
    unknown = _post(
        simulator, "conference/transform_layout", {"conference_id": conference_id, "layout": "3:3"}
    )
    assert unknown.status_code == 400 and "layout" in unknown.text
    long_text = _post(
        simulator,
        "conference/transform_layout",
        {"conference_id": conference_id, "layout": "1:7", "free_form_overlay_text": "x" * 1001},
    )
    assert long_text.status_code == 400 and "1000" in long_text.text
    fine = _post(
        simulator, "conference/transform_layout", {"conference_id": conference_id, "layout": "1:7"}
    )
    assert fine.status_code == 202
    assert (
        _post(
            simulator, "participant/role", {"participant_id": bob["id"], "role": "chair"}
        ).status_code
        == 202
    )
