"""Group commit on the event loop (`bot.coordination.loop_batch`), on a real PostgreSQL: what
queues during a write goes in the next batch, one statement each; a batch that fails is tried
again item by item, so one bad item fails alone and the others are written once."""

from __future__ import annotations

import asyncio
import socket

import psycopg
import pytest

from bot.coordination.loop_batch import LoopBatch
from bot.coordination.sessions import PgSession, Sessions, connect

pytestmark = pytest.mark.postgres


@pytest.fixture
async def table(pg_url: str) -> str:
    conn = await connect(pg_url, "pexbot test")
    await conn.execute("DROP TABLE IF EXISTS loop_batch_items")
    await conn.execute("CREATE TABLE loop_batch_items (item int PRIMARY KEY CHECK (item >= 0))")
    await conn.close()
    return pg_url


class Refused(Exception):
    """What the owner of a batch makes of a database error (JournalError, OnceError)."""

    def __init__(self, exc: psycopg.Error) -> None:
        super().__init__(f"refused: {exc}")
        self.__cause__ = exc


class Writes:
    """Inserts each batch in one statement, noting the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def write(self, session: PgSession, items: list[int]) -> None:
        self.batches.append(list(items))
        await session.execute("INSERT INTO loop_batch_items SELECT unnest(%s::int[])", (items,))


async def stored(url: str) -> list[int]:
    conn = await connect(url, "pexbot test")
    cursor = await conn.execute("SELECT item FROM loop_batch_items ORDER BY item")
    rows = [int(row[0]) for row in await cursor.fetchall()]
    await conn.close()
    return rows


async def test_what_queues_during_a_write_goes_in_one_batch(table: str) -> None:
    sessions = Sessions(table, 1, "pexbot test")
    writes = Writes()
    batch = LoopBatch(sessions, writes.write, Refused)
    try:
        await asyncio.gather(*(batch.submit(n) for n in range(50)))
    finally:
        await batch.finish()
        await sessions.close()
    assert await stored(table) == list(range(50))
    assert sorted(n for one in writes.batches for n in one) == list(range(50))
    assert len(writes.batches) < 50  # the first alone, the rest together (one round trip)


async def test_one_bad_item_fails_alone(table: str) -> None:
    sessions = Sessions(table, 1, "pexbot test")
    batch = LoopBatch(sessions, Writes().write, Refused)
    try:
        results = await asyncio.gather(
            *(batch.submit(n) for n in [0, 1, 2, -1, 3, 4]), return_exceptions=True
        )
    finally:
        await batch.finish()
        await sessions.close()
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], Refused)
    assert isinstance(failed[0].__cause__, psycopg.errors.CheckViolation)
    assert results[3] is failed[0]
    assert await stored(table) == [0, 1, 2, 3, 4]  # each written once


async def test_a_server_that_cannot_be_reached_fails_as_the_owner_says() -> None:
    """The owner's error (logged by the journal and the seen-once record, which then go on
    without the database), not a psycopg one escaping to the acknowledgement."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sessions = Sessions(f"postgresql://pexbot@127.0.0.1:{port}/none?connect_timeout=2", 1, "t")
    batch = LoopBatch(sessions, Writes().write, Refused)
    try:
        with pytest.raises(Refused):
            await batch.submit(1)
    finally:
        await batch.finish()
        await sessions.close()
