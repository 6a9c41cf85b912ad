"""`/pexip status` fits one Slack message for a large platform (50 nodes, 20 alarms), says
how many more there are beyond what it lists, and shows the node's words literally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings

from bot.health.nodes import Alarm, Health, LicenceUse, Status, WorkerNode
from bot.health.render import render_status
from bot.pexip.models import ManagementNode
from tests.slack.test_limits import WIDEST, check, names

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _nodes(count: int, name: str = "pexconf", **state: object) -> list[WorkerNode]:
    return [
        WorkerNode.model_validate(
            {
                "id": index,
                "name": f"{name}-{index:02d}"[:1000],
                "system_location": f"Location {index % 7}",
                "node_type": "CONFERENCING",
                "version": "36 (82470.0.0)",
                "media_load": index % 100,
                "sync_status": "SYNCED",
                "upgrade_status": "IDLE",
                **state,
            }
        )
        for index in range(count)
    ]


def _alarms(count: int, name: str = "Alarm", details: str = "details") -> list[Alarm]:
    return [
        Alarm(
            id=index,
            name=f"{name} {index}",
            level=("critical", "error", "warning")[index % 3],
            details=details,
            node=f"10.0.0.{index % 250}",
            time_raised=NOW - timedelta(minutes=5 * index),
        )
        for index in range(count)
    ]


def status(nodes: list[WorkerNode], alarms: list[Alarm]) -> Status:
    licences = [LicenceUse("port", 85, 100), LicenceUse("vmr", 5, 50)]
    management = ManagementNode(name="pexmgr01", primary=True, version="36 (82470.0.0)")
    return Status(management, Health(alarms, licences, nodes, NOW))


def all_text(blocks: list[dict[str, object]]) -> str:
    return "\n".join(str(block["text"]["text"]) for block in blocks)  # type: ignore[index]


def test_fifty_nodes_and_twenty_alarms_are_all_listed_in_one_message() -> None:
    text, blocks = render_status(status(_nodes(50), _alarms(20)), 80)
    check({"text": text, "blocks": blocks})
    shown = all_text(blocks)
    assert all(f"pexconf-{index:02d}" in shown for index in range(50))
    assert all(f"Alarm {index}" in shown for index in range(20))
    assert "more" not in shown
    assert "*Management node* `pexmgr01` · version 36 (82470.0.0)" in shown
    assert ":warning: Call (port) 85% (85 of 100)" in shown and "VMR 10% (5 of 50)" in shown
    assert "50 conferencing nodes" in text and "20 active alarms" in text


def test_beyond_that_it_says_how_many_more_and_lists_the_troubled_first() -> None:
    nodes = _nodes(70)
    troubled = _nodes(1, name="sick", sync_status="SYNC_FAILED", maintenance_mode=True)
    text, blocks = render_status(status([*nodes, *troubled], _alarms(35)), 80)
    check({"text": text, "blocks": blocks})
    shown = all_text(blocks)
    assert "`sick-00`" in shown and ":construction: *maintenance mode*" in shown
    assert "…and 21 more nodes not listed: 0 in maintenance, 0 not in sync" in shown
    assert "…and 15 more alarms not listed" in shown
    assert "71 conferencing nodes" in text and "35 active alarms" in text


def test_a_node_on_another_build_out_of_sync_or_upgrading_says_so() -> None:
    node = _nodes(1, version="35 (80000.0.0)", sync_status="SYNCING", upgrade_status="DOWNLOADING")
    _, blocks = render_status(status(node, []), 80)
    shown = all_text(blocks)
    assert ":x: *not in sync* (SYNCING)" in shown and "upgrade DOWNLOADING" in shown
    assert ":warning: version 35 (80000.0.0)" in shown
    assert "*Active alarms*: none" in shown


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names)
def test_any_names_fit_and_never_ping(name: str) -> None:
    nodes = _nodes(
        50,
        name=name,
        system_location=name,
        maintenance_mode=True,
        maintenance_mode_reason=name[:250],
    )
    text, blocks = render_status(status(nodes, _alarms(20, name=name, details=name)), 80)
    check({"text": text, "blocks": blocks})
    for shown in (text, all_text(blocks)):
        assert "<!" not in shown and "<@" not in shown


def test_the_widest_names_still_fit() -> None:
    for name in WIDEST:
        nodes = _nodes(60, name=name, system_location=name)
        text, blocks = render_status(status(nodes, _alarms(30, name=name, details=name)), 80)
        check({"text": text, "blocks": blocks})
