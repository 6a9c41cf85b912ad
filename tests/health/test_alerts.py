"""Alerts in OPS_CHANNEL, as the people who run the Pexip platform see them: each alarm once,
edited when it clears; a licence kind crossing the alert share once per crossing; a node
entering or leaving maintenance mode or losing sync; one message while the node cannot be
reached. A restarted clock (every poll here is one) posts nothing twice and edits old messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.health.conftest import OPS

Poll = Callable[[], Awaitable[None]]


def posted(slack_api: Any) -> list[Any]:
    return [m for m in slack_api.state.messages() if m.kind == "postMessage"]


def updated(slack_api: Any) -> list[Any]:
    return [m for m in slack_api.state.messages() if m.kind == "update"]


def section_text(message: Any) -> str:
    return "\n".join(block["text"]["text"] for block in message.blocks)


async def test_a_quiet_node_posts_nothing(poll: Poll, slack_api: Any) -> None:
    await poll()
    await poll()
    assert slack_api.state.messages() == []


async def test_an_alarm_is_posted_once_and_edited_in_place_when_it_clears(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    await poll()
    alarm = simulator.control.raise_alarm(
        "Conferencing node lost contact", level="error", node="10.0.1.11", details="no heartbeat"
    )
    await poll()
    await poll()  # still raised: nothing new
    [raised] = posted(slack_api)
    assert raised.channel == OPS
    assert "Alarm raised" in section_text(raised) and "no heartbeat" in section_text(raised)
    assert "Conferencing node lost contact" in raised.text

    simulator.control.clear_alarm(alarm)
    await poll()
    await poll()
    [cleared] = updated(slack_api)
    assert cleared.ts == raised.ts and cleared.channel == OPS
    assert "Alarm cleared" in section_text(cleared)
    assert len(posted(slack_api)) == 1


async def test_a_restarted_clock_posts_nothing_twice_and_still_edits_the_old_message(
    poll: Poll, simulator: Any, slack_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alarm = simulator.control.raise_alarm("Licence server unreachable", level="critical")
    simulator.control.set_worker(2, maintenance_mode=True, maintenance_mode_reason="patching")
    await poll()  # first start: the alarm is new; the node is seen for the first time
    [raised] = posted(slack_api)
    for _ in range(3):  # three restarts
        await poll()
    assert len(posted(slack_api)) == 1
    simulator.control.clear_alarm(alarm)
    await poll()
    [cleared] = updated(slack_api)
    assert cleared.ts == raised.ts


async def test_a_licence_kind_crossing_the_alert_share_is_posted_once_per_crossing(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    control = simulator.control
    control.set_licences(port_count=85)  # of 100, alert at 80 %
    await poll()
    control.set_licences(port_count=95)
    await poll()
    control.set_licences(port_count=77)  # under 80 but not 5 points under: still armed off
    await poll()
    [alert] = posted(slack_api)
    assert "Call (port) licences at 85%" in section_text(alert)
    assert updated(slack_api) == []

    control.set_licences(port_count=74)  # re-armed: the alert is edited
    await poll()
    [back] = updated(slack_api)
    assert back.ts == alert.ts and "back to 74%" in section_text(back)

    control.set_licences(port_count=80)  # a second crossing: a second alert
    await poll()
    first, second = posted(slack_api)
    assert first.ts == alert.ts and "at 80%" in section_text(second)


async def test_the_alert_share_follows_the_setting(
    poll: Poll, simulator: Any, slack_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LICENSE_ALERT_PERCENT", "50")
    simulator.control.set_licences(vmr_count=25)  # of 50
    await poll()
    [alert] = posted(slack_api)
    assert "VMR licences at 50%" in section_text(alert) and "alert at 50%" in alert.text


async def test_maintenance_mode_entered_and_left_is_posted_each_time(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    await poll()
    simulator.control.set_worker(4, maintenance_mode=True, maintenance_mode_reason="disk swap")
    await poll()
    await poll()
    simulator.control.set_worker(4, maintenance_mode=False)
    await poll()
    entered, left = posted(slack_api)
    assert "pexconf-osl-1" in entered.text and "Oslo" in entered.text
    assert "entered maintenance mode: disk swap" in section_text(entered)
    assert "left maintenance mode" in section_text(left)


async def test_a_node_losing_sync_is_posted_once_and_edited_when_back_in_sync(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    await poll()
    simulator.control.set_worker(5, sync_status="SYNC_FAILED")
    await poll()
    await poll()
    [lost] = posted(slack_api)
    assert "pexconf-nyc-1" in lost.text and "SYNC_FAILED" in lost.text
    simulator.control.set_worker(5, sync_status="SYNCED")
    await poll()
    [back] = updated(slack_api)
    assert back.ts == lost.ts and "back in sync" in section_text(back)


async def test_an_unreachable_node_is_one_message_edited_when_it_answers_again(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    await poll()
    simulator.control.add_fault(path="/api/", status=503)
    for _ in range(3):
        await poll()
    [down] = posted(slack_api)
    assert "Cannot reach the management node" in section_text(down)
    simulator.control.clear_faults()
    await poll()
    [up] = updated(slack_api)
    assert up.ts == down.ts and "answers again" in section_text(up)
    assert len(posted(slack_api)) == 1


async def test_a_poll_makes_at_most_three_requests_to_the_node(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    simulator.control.raise_alarm("Something", level="warning")
    simulator.control.reset_stats()
    await poll()
    assert simulator.control.stats()["requests_total"] == 3
    simulator.control.add_fault(path="/api/admin/status/v1/licensing/", status=503)
    simulator.control.reset_stats()
    await poll()  # no retries (the next poll is the retry), and no read after a failed one
    assert simulator.control.stats()["requests_total"] == 2
    assert [m for m in posted(slack_api) if "Cannot reach the management node" in m.text]


async def test_an_alert_slack_refused_is_posted_by_the_next_poll(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    simulator.control.raise_alarm("Disk almost full", level="warning")
    slack_api.state.fail("chat.postMessage", error="channel_not_found")
    await poll()
    assert posted(slack_api) == []
    await poll()
    [alert] = posted(slack_api)
    assert "Disk almost full" in alert.text


async def test_text_from_the_node_is_shown_literally(
    poll: Poll, simulator: Any, slack_api: Any
) -> None:
    simulator.control.raise_alarm(
        "<!channel> *urgent*", details="see <https://evil.example|here> & <@U0ADMIN01>"
    )
    await poll()
    [alert] = posted(slack_api)
    for text in (alert.text, section_text(alert)):
        assert "<!channel>" not in text and "<@U0ADMIN01>" not in text and "<https" not in text
    assert "&lt;!channel&gt;" in section_text(alert)


async def test_without_ops_channel_nothing_is_read_or_posted(
    poll: Poll, simulator: Any, slack_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPS_CHANNEL")
    simulator.control.raise_alarm("Something", level="warning")
    simulator.control.reset_stats()
    await poll()
    assert simulator.control.stats()["requests_total"] == 0
    assert slack_api.state.messages() == []
