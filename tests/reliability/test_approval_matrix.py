"""Every approval path (INTERFACE §5 `approval`): requester × approver × scope × timing, each
row stating what reached the node: nothing before a valid approval, exactly one command after.

The command is `layout` (approvers: admin or vmr-moderator): it can be given again and again on
the same running conference. The expectation is written out by hand from the policy below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, update

from bot.store.approvals import ApprovalRow
from bot.store.database import database_url
from tests.e2e.conftest import Seen, wait_until
from tests.fixtures.bot import ADMIN, MODERATOR, POLICY, SCOPED, VIEWER
from tests.reliability.conftest import Launch, SecretBot, Tally

ADMIN2 = "U0ADMIN02"
APPROVING = POLICY.replace("admin: [U0ADMIN01]", f"admin: [U0ADMIN01, {ADMIN2}]") + (
    "approval:\n  layout: {approvers: [admin, vmr-moderator], expires: 10m}\n"
)
NAMES = {
    ADMIN: "admin",
    ADMIN2: "admin2",
    MODERATOR: "moderator",
    SCOPED: "scoped",
    VIEWER: "viewer",
}
INSIDE, OUTSIDE = "VMR_1", "Board_Room"  # SCOPED's scope is VMR_* and *@meet.example.com


def may_ask(requester: str, conference: str) -> bool:
    """Holds `layout` on the conference: admin, moderator; scoped only inside."""
    return requester in (ADMIN, ADMIN2, MODERATOR) or (requester == SCOPED and conference == INSIDE)


def may_approve(approver: str, requester: str, conference: str) -> str:
    """Why a click is refused, or "" when it runs the command."""
    if approver == requester:
        return "you asked for this yourself"
    if approver in (MODERATOR, VIEWER):  # no approver role (moderator holds layout, though)
        return "needs the `admin` or `vmr-moderator` role"
    if approver == SCOPED and conference == OUTSIDE:
        return "your `layout` permission does not cover conference Board_Room"
    return ""


@dataclass(frozen=True)
class Cell:
    requester: str
    approver: str
    conference: str
    late: bool  # the click comes after the request expired


CELLS = [
    pytest.param(
        Cell(requester, approver, conference, late),
        id=f"{NAMES[requester]}-asks-{NAMES[approver]}-approves-{conference}"
        + ("-late" if late else ""),
    )
    for requester in (ADMIN, MODERATOR, SCOPED, VIEWER)
    for conference in (INSIDE, OUTSIDE)
    for approver in (ADMIN, ADMIN2, MODERATOR, SCOPED, VIEWER)
    for late in (False, True)
    if may_ask(requester, conference) or (approver == ADMIN and not late)  # refused: one row
]


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch(policy=APPROVING)


def _expire_now(bot: SecretBot, ref: str) -> None:
    """The request's time ran out (set in the database, as if ten minutes had passed)."""
    engine = create_engine(database_url(bot.settings.database_url))
    try:
        with engine.begin() as connection:
            moment = datetime.now(UTC) - timedelta(seconds=1)
            connection.execute(
                update(ApprovalRow)
                .where(ApprovalRow.ref == ref)
                .values(expires_at=moment.replace(tzinfo=None))
            )
    finally:
        engine.dispose()


def _transforms(simulator: Any) -> list[str]:
    return [c["command"] for c in simulator.control.stats()["commands"]]


@pytest.mark.parametrize("cell", CELLS)
def test_an_approval_runs_the_command_exactly_when_it_is_valid(
    bot: SecretBot, seen: Seen, simulator: Any, tally: Tally, cell: Cell
) -> None:
    simulator.control.reset_stats()
    bot.slack.command(f"layout {cell.conference} 1:7", user=cell.requester)
    tally.matrix_cells += 1

    if not may_ask(cell.requester, cell.conference):
        denied = seen.private("Not allowed")
        assert "`layout`" in denied.text
        assert [m for m in seen.everything() if not m.ephemeral] == []
        assert _transforms(simulator) == []
        return

    request = seen.public("asks to change the layout of")
    assert _transforms(simulator) == []  # nothing before a valid approval
    approve = next(e for e in request.blocks[-1]["elements"] if e["text"]["text"] == "Approve")
    if cell.late:
        _expire_now(bot, approve["value"])

    bot.slack.click(approve, user=cell.approver)

    refused = may_approve(cell.approver, cell.requester, cell.conference)
    if cell.late:
        seen.private("this request expired at")
        seen.update("Expired at")
    elif refused:
        seen.private(refused)
    else:
        seen.public(f"changed the layout of {cell.conference} to 1:7. (approved by")
        seen.update("Approved by")
    if cell.late or refused:
        # the click was answered; give a command that would have followed time to show up
        wait_until(lambda: not bot.runtime.services.commands.busy or None, 5, "idle")
        assert _transforms(simulator) == []
    else:
        assert _transforms(simulator) == ["conference/transform_layout"]  # exactly one
