"""The live-meeting records survive the process: what one process wrote, the next reads, on
SQLite and on PostgreSQL; a burst of changes is written in order, the last one winning."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.events.records import LiveRecords
from tests.fixtures.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield fresh_database(request.param, tmp_path / "live.db", "live_record")


async def _write(url: str) -> None:
    records = LiveRecords(url)
    await records.load()
    for step in range(50):
        await records.put("m:lobby:abc:C0LIVE", {"channel": "C0LIVE", "ts": f"1.{step}"})
    await records.put("p:gone", {"gone": True})
    await records.drop("p:gone")
    await records.written()
    await records.close()


async def _read(url: str) -> tuple[dict[str, object] | None, dict[str, object] | None]:
    records = LiveRecords(url)
    await records.load()
    found = records.get("m:lobby:abc:C0LIVE"), records.get("p:gone")
    await records.close()
    return found


def test_a_new_process_reads_the_messages_the_last_one_posted(url: str) -> None:
    asyncio.run(_write(url))
    card, gone = asyncio.run(_read(url))
    assert card == {"channel": "C0LIVE", "ts": "1.49"}
    assert gone is None


@pytest.mark.postgres
def test_processes_on_postgresql_take_turns_each_building_on_what_the_others_wrote(
    tmp_path: Path,
) -> None:
    """Two processes' records (as two serves hold them) count one guest's events each: every
    increment is kept, as the turns are one at a time and each reads the others' writes."""
    url = fresh_database("postgres", tmp_path / "unused.db", "live_record")

    async def count(records: LiveRecords, times: int, inside: list[int]) -> None:
        for _ in range(times):
            async with records.turn():
                inside.append(1)
                assert len(inside) == 1, "two turns at once"
                known = records.get("c:VMR_1") or {"events": 0}
                await asyncio.sleep(0.002)  # another process's turn would slip in here
                await records.put("c:VMR_1", {"events": known["events"] + 1})
                inside.pop()

    async def run() -> int:
        here, there = LiveRecords(url), LiveRecords(url)
        inside: list[int] = []
        try:
            await asyncio.gather(count(here, 25, inside), count(there, 25, inside))
            latest = await here.fresh("c:VMR_1")
        finally:
            await here.close()
            await there.close()
        assert latest is not None
        return int(latest["events"])

    assert asyncio.run(run()) == 50


@pytest.mark.postgres
def test_what_a_turn_removes_is_gone_for_the_other_processes_too(tmp_path: Path) -> None:
    url = fresh_database("postgres", tmp_path / "unused.db", "live_record")

    async def run() -> list[object]:
        here, there = LiveRecords(url), LiveRecords(url)
        seen: list[object] = []
        try:
            async with here.turn():
                await here.put("p:guest", {"conference": "VMR_1"})
            async with there.turn():
                seen.append(there.get("p:guest"))
            async with here.turn():
                await here.drop("p:guest")
            async with there.turn():
                seen.append(there.get("p:guest"))
                seen.append(there.keys("p:"))
            seen.append(await there.fresh("p:guest"))
        finally:
            await here.close()
            await there.close()
        return seen

    assert asyncio.run(run()) == [{"conference": "VMR_1"}, None, [], None]
