"""`/pexip status`: the people who run the platform see its health privately, in one message."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Seen
from tests.fixtures.bot import ADMIN, MODERATOR, Bot


def test_status_shows_version_nodes_licences_and_alarms_privately(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.raise_alarm("Certificate expires soon", level="warning", node="10.0.0.5")
    simulator.control.set_worker(3, maintenance_mode=True, maintenance_mode_reason="disk <swap>")
    simulator.control.set_licences(port_count=85)
    simulator.control.reset_stats()
    bot.slack.command("status", user=ADMIN)

    status = seen.private("Pexip status")
    shown = "\n".join(b["text"]["text"] for b in status.blocks if "text" in b)
    assert "*Management node* `pexmgr` · version 36 (82470.0.0)" in shown
    for name, place in (("pexconf-lon-1", "London"), ("pexconf-osl-1", "Oslo")):
        assert f"`{name}` · {place} · load" in shown
    assert ":construction: *maintenance mode*: disk &lt;swap&gt;" in shown
    assert ":warning: Call (port) 85% (85 of 100)" in shown
    assert "*warning* · Certificate expires soon · on 10.0.0.5 · raised" in shown
    assert seen.in_channel() == []
    assert simulator.control.stats()["requests_total"] == 4


def test_status_needs_its_permission(bot: Bot, seen: Seen) -> None:
    bot.slack.command("status", user=MODERATOR)
    seen.private("you need the `status` permission")


def test_status_when_the_node_cannot_be_reached_says_so_privately(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    simulator.control.add_fault(path="/api/", status=503)
    bot.slack.command("status", user=ADMIN)
    answer = seen.private("management node", timeout=15)
    assert "busy" in answer.text and "Pexip status" not in answer.text
    assert seen.in_channel() == []
