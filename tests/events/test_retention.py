"""The live records of finished messages and meetings are deleted after their retention
(`bot.events.retention`), on SQLite and on PostgreSQL, and what may still change is kept: the
table no longer grows with every guest and meeting."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from bot.events.records import TOMBSTONE, LiveRecords
from bot.events.retention import BATCH, MEETING_RETAIN, RETAIN, sweep
from bot.store.database import database_url
from tests.fixtures.databases import KINDS, fresh_database

C = "C0LIVE0001"
NOW = 1_800_000_000.0

ENDED = {
    # Board_Room ended a minute ago: its guests' records went with it
    "c:Board_Room": {"run": "r1", "nodes": [], "ended": True, "end": NOW - 60, "peak": 2},
    f"m:roster:r1:{C}": {"channel": C, "conference": "Board_Room", "v": 7},
    f"m:notice:r1:started:{C}": {"channel": C, "conference": "Board_Room", "v": 1},
    f"m:notice:r1:ended:{C}": {"channel": C, "conference": "Board_Room", "v": 1},
    f"m:lobby:g1:{C}": {"channel": C, "uuid": "g1", "status": "admitted", "by": None, "v": 2},
    # in VMR_2, still running: a guest who left the lobby
    "p:g3": {"data": {}, "conference": "VMR_2", "order": [NOW, 3], "gone": True},
    f"m:lobby:g3:{C}": {"channel": C, "uuid": "g3", "status": "left", "by": None, "v": 2},
}
RUNNING = {
    "c:VMR_2": {"run": "r2", "nodes": ["10.0.0.1"], "peak": 3},
    f"m:roster:r2:{C}": {"channel": C, "conference": "VMR_2", "v": 9},
    f"m:notice:r2:started:{C}": {"channel": C, "conference": "VMR_2", "v": 1},
    "p:g2": {"data": {}, "conference": "VMR_2", "order": [NOW, 1], "gone": False},
    f"m:lobby:g2:{C}": {"channel": C, "uuid": "g2", "status": "admitted", "by": "U1", "v": 2},
    "p:g4": {"data": {}, "conference": "VMR_2", "order": [NOW, 2], "gone": False},
    f"m:lobby:g4:{C}": {"channel": C, "uuid": "g4", "status": "waiting", "v": 1},
}
FINISHED = [key for key in ENDED if key.startswith("m:")]


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield fresh_database(request.param, tmp_path / "live.db", "live_record")


async def written(url: str, rows: dict[str, dict[str, object]]) -> None:
    records = LiveRecords(url)
    async with records.turn():
        for key, value in rows.items():
            await records.put(key, value)
            if key.startswith("m:"):
                await records.put_now(f"t:{key}", {"ts": f"1700000000.{len(key)}"})
    await records.written()
    await records.close()


async def swept_at(url: str, *moments: float, batch: int = BATCH) -> list[list[str]]:
    """Sweeps at these times, each in a turn of a process of its own; what each deleted."""
    deleted = []
    for moment in moments:
        records = LiveRecords(url)
        async with records.turn():
            deleted.append(sorted((await sweep(records, moment, batch)).deleted))
        await records.written()
        await records.close()
    return deleted


def keys_in_table(url: str) -> set[str]:
    """The rows of the table, tombstones (PostgreSQL, deleted an hour later) aside."""
    engine = sqlalchemy.create_engine(database_url(url))
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT key, value FROM live_record")).all()
    engine.dispose()
    return {key for key, value in rows if value != TOMBSTONE and key != "g:turn"}


def test_finished_cards_notices_and_rosters_go_an_hour_after_they_finished(url: str) -> None:
    asyncio.run(written(url, {**ENDED, **RUNNING}))
    marked, early, due = asyncio.run(swept_at(url, NOW, NOW + RETAIN - 60, NOW + RETAIN + 60))

    assert marked == [] and early == []  # found finished at NOW, not deleted before RETAIN
    assert due == sorted(FINISHED)
    left = keys_in_table(url)
    assert not {*FINISHED, *(f"t:{key}" for key in FINISHED)} & left
    # what may still change is kept: the running meeting, its roster and notice, the card of
    # a guest still in it and of one still waiting, the ended meeting (late deliveries)
    assert {*RUNNING, "c:Board_Room", "p:g3", f"t:m:lobby:g4:{C}"} <= left


def test_an_ended_meeting_is_kept_as_long_as_a_late_delivery_may_come(url: str) -> None:
    asyncio.run(written(url, {**ENDED, **RUNNING}))
    before, after = asyncio.run(swept_at(url, NOW + MEETING_RETAIN - 3600, NOW + MEETING_RETAIN))

    assert "c:Board_Room" not in before
    assert "c:Board_Room" in after
    assert "c:VMR_2" in keys_in_table(url)


def test_a_sweep_deletes_a_bounded_batch_and_the_next_one_the_rest(url: str) -> None:
    asyncio.run(written(url, ENDED))

    moments = (NOW, NOW + 1, NOW + RETAIN + 2, NOW + RETAIN + 3, NOW + RETAIN + 4)
    deleted = asyncio.run(swept_at(url, *moments, batch=3))

    assert [len(keys) for keys in deleted] == [0, 0, 3, 2, 0]  # marked 3, then 2; deleted 3, then 2


@pytest.mark.postgres
def test_another_process_sees_the_deletions_in_its_next_turn(tmp_path: Path) -> None:
    url = fresh_database("postgres", tmp_path / "unused.db", "live_record")
    asyncio.run(written(url, {**ENDED, **RUNNING}))

    async def other_process() -> list[str]:
        other = LiveRecords(url)
        async with other.turn():
            assert other.get(FINISHED[0]) is not None
        await swept_at(url, NOW, NOW + RETAIN + 60)
        async with other.turn():
            found = [key for key in FINISHED if other.get(key) is not None]
        await other.close()
        return found

    assert asyncio.run(other_process()) == []
