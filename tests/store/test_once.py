"""The seen-once record (`bot.store.once`): the first claim of a key wins until the record
expires, in one process, across the processes sharing a PostgreSQL DATABASE_URL, and across the
runs of the one `serve` that owns an SQLite file (INTERFACE §10)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy

from bot.command_queue import Door
from bot.store import once as once_module
from bot.store.database import database_url
from bot.store.once import Once
from tests.fixtures.databases import KINDS, POSTGRES_URL, fresh_database


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database(request.param, tmp_path / "once" / "pexbot.db", "seen_once")


@pytest.fixture
async def two_processes(db_url: str) -> AsyncIterator[tuple[Once, Once]]:
    """Two records on one database, each with its own engine, as two processes have."""
    first, second = Once(db_url), Once(db_url)
    yield first, second
    for once in (first, second):
        await once.close_sessions()
        once.close()


async def test_a_key_is_first_once_then_a_repeat(two_processes: tuple[Once, Once]) -> None:
    once, _ = two_processes
    assert await once.first("signature:v0=abc", 60)
    assert not await once.first("signature:v0=abc", 60)
    assert await once.first("signature:v0=def", 60)


@pytest.mark.postgres
async def test_another_process_sees_the_claim_until_it_expires() -> None:
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    here, there = Once(POSTGRES_URL), Once(POSTGRES_URL)
    key = f"envelope:e-{uuid.uuid4().hex[:8]}"  # the server's table outlives this test
    try:
        assert await here.first(key, 0.3)
        assert not await there.first(key, 0.3)
        await asyncio.sleep(0.5)
        assert await there.first(key, 60)
        assert not await here.first(key, 60)
    finally:
        for once in (here, there):
            await once.close_sessions()
            once.close()


async def test_the_next_run_on_an_sqlite_file_sees_the_last_runs_claims(tmp_path: Path) -> None:
    """One serve owns an SQLite file: its memory decides, and the claims it wrote are what the
    next run starts from (a replay after a restart is still refused)."""
    url = f"sqlite:///{tmp_path / 'pexbot.db'}"
    last_run = Once(url)
    assert await last_run.first("signature:v0=before-restart", 60)
    assert await last_run.first("signature:v0=short", 0.2)
    await last_run.settled()  # as the serve does on its way out
    last_run.close()
    await asyncio.sleep(0.3)

    next_run = Once(url)
    try:
        assert not await next_run.first("signature:v0=before-restart", 60)
        assert await next_run.first("signature:v0=short", 60), "expired meanwhile"
        assert await next_run.first("signature:v0=after-restart", 60)
    finally:
        next_run.close()


async def test_a_second_serve_on_one_sqlite_file_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside INTERFACE §10 (several serves need PostgreSQL): each decides from its own memory,
    and the second to write a key says so in the log."""
    url = f"sqlite:///{tmp_path / 'pexbot.db'}"
    one, two = Once(url), Once(url)
    try:
        assert await two.first("warm", 60)  # both running, each with what it has read
        assert await one.first("signature:v0=both", 60)
        await one.settled()
        with caplog.at_level(logging.WARNING, logger="bot.store.once"):
            assert await two.first("signature:v0=both", 60)
            await two.settled()
    finally:
        one.close()
        two.close()
    assert "1 seen-once claim(s) were already recorded by another process" in caplog.text


async def test_sqlite_claims_of_a_burst_are_written_together(tmp_path: Path) -> None:
    """Answered from memory, written a moment later in one statement: nothing is in the table
    until then, everything is after."""
    url = f"sqlite:///{tmp_path / 'pexbot.db'}"
    once = Once(url)
    try:
        assert await once.first("warm", 60)
        await once.settled()
        claims = [await once.first(f"signature:v0={n}", 60) for n in range(300)]
        assert claims == [True] * 300
        assert _keys(url) == {"warm"}
        await once.settled()
        assert _keys(url) == {"warm"} | {f"signature:v0={n}" for n in range(300)}
    finally:
        once.close()


@pytest.mark.postgres
async def test_a_race_between_processes_has_one_winner(tmp_path) -> None:
    """Both claim the same keys at the same moments, each from its own thread and event loop.
    PostgreSQL only: one `serve` owns an SQLite file (INTERFACE §10), whose claims are decided
    by the process's own memory."""
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    here, there = Once(POSTGRES_URL), Once(POSTGRES_URL)
    run = uuid.uuid4().hex[:8]  # the server's table outlives this test
    keys = [f"envelope:race-{run}-{n}" for n in range(200)]

    async def claim_all(once: Once) -> list[bool]:
        return [await once.first(key, 60) for key in keys]

    mine, theirs = await asyncio.gather(
        claim_all(here), asyncio.to_thread(asyncio.run, claim_all(there))
    )
    here.close()
    there.close()
    assert [a + b for a, b in zip(mine, theirs, strict=True)] == [1] * len(keys)


async def test_claims_made_together_each_get_their_own_answer(
    two_processes: tuple[Once, Once],
) -> None:
    """Claimed in one batch (one statement on PostgreSQL): repeats of another process's keys
    are refused, new keys accepted, and of two keys recorded alike (the record keeps 255
    characters) only the first."""
    here, there = two_processes
    assert await there.first("envelope:taken", 60)
    await there.settled()  # SQLite: written, as by the last run of the one serve
    long = "signature:" + "x" * 300
    answers = await asyncio.gather(
        here.first("envelope:taken", 60),
        here.first("envelope:new-1", 60),
        here.first(long + "a", 60),
        here.first(long + "b", 60),
        here.first("envelope:new-2", 60),
    )
    assert answers == [False, True, True, False, True]


async def test_an_expired_record_no_longer_counts(two_processes: tuple[Once, Once]) -> None:
    here, _ = two_processes
    assert await here.first("envelope:short", 0.2)
    assert not await here.first("envelope:short", 0.2)
    await asyncio.sleep(0.4)
    assert await here.first("envelope:short", 60)
    assert not await here.first("envelope:short", 60)


async def test_expired_rows_are_cleaned_up(db_url: str, monkeypatch) -> None:
    monkeypatch.setattr("bot.store.once.CLEANUP_SECONDS", 0.0)
    once = Once(db_url)
    try:
        for n in range(5):
            await once.first(f"old-{n}", 0.01)
        await once.settled()
        await asyncio.sleep(0.05)
        await once.first("new", 60)
        await once.settled()
        assert _keys(db_url) == {"new"}
    finally:
        once.close()


async def test_sqlite_claims_wait_for_a_quiet_door_at_most_write_within(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While requests are being answered (a burst) the claims are not written: the writes
    would take the GIL from the acknowledgements. They are written once the door is quiet,
    and at the latest `WRITE_WITHIN` after the first even if it never is."""
    monkeypatch.setattr(once_module, "WRITE_WITHIN", 0.6)
    url = f"sqlite:///{tmp_path / 'pexbot.db'}"
    door = Door()
    once = Once(url, quiet=door.quiet)
    try:
        assert await once.first("warm", 60)
        await once.settled()
        door.enter()  # a request is being answered
        assert await once.first("signature:v0=in-a-burst", 60)
        await asyncio.sleep(0.3)  # well past WRITE_AFTER
        assert _keys(url) == {"warm"}, "written while the door was busy"
        door.leave()
        await asyncio.wait_for(once.settled(), 1)
        assert "signature:v0=in-a-burst" in _keys(url)

        door.enter()  # a door that never goes quiet
        assert await once.first("signature:v0=never-quiet", 60)
        await asyncio.sleep(0.3)
        assert "signature:v0=never-quiet" not in _keys(url)
        await asyncio.wait_for(once.settled(), 1)
        assert "signature:v0=never-quiet" in _keys(url)
        door.leave()
    finally:
        once.close()


def _keys(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(database_url(url))
    with engine.connect() as connection:
        keys = set(connection.execute(sqlalchemy.text("SELECT key FROM seen_once")).scalars())
    engine.dispose()
    return keys


async def test_without_the_database_a_repeat_here_is_still_caught(
    caplog: pytest.LogCaptureFixture,
) -> None:
    once = Once("postgresql://pexbot:hunter2secret@127.0.0.1:1/pexbot?connect_timeout=2")
    try:
        with caplog.at_level(logging.ERROR, logger="bot.store.once"):
            assert await once.first("signature:v0=abc", 60)
            assert not await once.first("signature:v0=abc", 60)
    finally:
        once.close()
    assert "the seen-once record at postgresql+psycopg://pexbot:***@127.0.0.1:1/" in caplog.text
    assert "hunter2secret" not in caplog.text


async def test_a_claim_does_not_wait_for_another_writer_holding_the_sqlite_file(
    tmp_path,
) -> None:
    """The audit log's writer may hold the file at that moment: the claim is decided at once by
    this process's memory (an acknowledgement never waits for the database), a repeat is still
    refused, and the row is written once the writer lets go."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    once = Once(url)
    try:
        assert await once.first("warm", 60)
        writer = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        assert await asyncio.wait_for(once.first("envelope:while-busy", 60), 0.5)
        assert not await once.first("envelope:while-busy", 60)
        settled = asyncio.ensure_future(once.settled())
        await asyncio.sleep(0.3)
        assert not settled.done(), "the row waits for the writer to let go"
        writer.execute("COMMIT")
        writer.close()
        await asyncio.wait_for(settled, 5)
        elsewhere = Once(url)
        assert not await elsewhere.first("envelope:while-busy", 60)
        elsewhere.close()
    finally:
        once.close()
