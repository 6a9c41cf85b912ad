"""Approval requests in DATABASE_URL: the database decides each request exactly once, whoever
asks and from however many processes (here: several stores, as several processes have)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from bot.store.approvals import ApprovalRequest, ApprovalStore
from bot.store.audit import AuditEntry, AuditStore
from tests.fixtures.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database(request.param, tmp_path / "approvals.db", "approval_requests")


@pytest.fixture
def stores(db_url: str) -> Iterator[list[ApprovalStore]]:
    opened = [ApprovalStore(db_url) for _ in range(4)]
    yield opened
    for store in opened:
        store.close()


def _request(ref: str = "ref00001", lasts: float = 600) -> ApprovalRequest:
    now = datetime.now(UTC)
    return ApprovalRequest(
        ref=ref,
        word="end",
        permission="end",
        command='{"c":"end","a":{"conference":"VMR_1"}}',
        question="end VMR_1",
        target="VMR_1",
        conferences=("VMR_1",),
        approvers=("admin",),
        requester="U0MOD0001",
        team="T0TEAM001",
        channel="C0ROOMS01",
        created_at=now,
        expires_at=now + timedelta(seconds=lasts),
    )


def test_a_request_is_read_back_by_another_store_as_after_a_restart(
    stores: list[ApprovalStore],
) -> None:
    first, second = stores[:2]
    asyncio.run(first.add(_request()))
    asyncio.run(first.posted("ref00001", "1700000000.000100"))

    found = asyncio.run(second.get("ref00001"))

    assert found is not None
    assert (found.state, found.conferences, found.message_ts) == (
        "pending",
        ("VMR_1",),
        "1700000000.000100",
    )


def test_of_many_simultaneous_decisions_exactly_one_changes_the_request(
    stores: list[ApprovalStore],
) -> None:
    asyncio.run(stores[0].add(_request()))
    start = threading.Barrier(8)
    won: list[str] = []

    def approve(store: ApprovalStore, user: str) -> None:
        start.wait()
        if asyncio.run(store.decide("ref00001", "approved", user, datetime.now(UTC))):
            won.append(user)

    threads = [
        threading.Thread(target=approve, args=(stores[index % 4], f"U0ADMIN0{index}"))
        for index in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(won) == 1
    decided = asyncio.run(stores[1].get("ref00001"))
    assert decided is not None and (decided.state, decided.decided_by) == ("approved", won[0])


def test_no_approval_after_the_expiry_and_the_sweep_finds_only_what_is_due(
    stores: list[ApprovalStore],
) -> None:
    store = stores[0]
    asyncio.run(store.add(_request("late0001", lasts=1)))
    asyncio.run(store.add(_request("fine0001", lasts=600)))
    later = datetime.now(UTC) + timedelta(seconds=5)

    assert not asyncio.run(store.decide("late0001", "approved", "U0ADMIN01", later))
    assert [r.ref for r in asyncio.run(store.due(later))] == ["late0001"]
    assert asyncio.run(store.decide("late0001", "expired", "", later))
    assert not asyncio.run(stores[1].decide("late0001", "expired", "", later))  # once only
    assert asyncio.run(store.due(later)) == []


def test_an_audit_log_from_before_approvals_gains_approved_by(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path}/old.db"
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, at DATETIME, user_id VARCHAR(64),"
                " team_id VARCHAR(64), channel_id VARCHAR(64), command VARCHAR(64), target TEXT,"
                " outcome VARCHAR(16), detail TEXT, correlation_id VARCHAR(32))"
            )
        )
    engine.dispose()
    store = AuditStore(url)
    try:
        entry = AuditEntry(user="U0MOD0001", command="end", outcome="success", approved_by="U0A")
        asyncio.run(store.record(entry))
        (stored,) = asyncio.run(store.recent())
    finally:
        store.close()
    assert stored.approved_by == "U0A"
