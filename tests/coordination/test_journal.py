"""Acknowledged commands are recorded until answered; when their process dies another claims
them: queued ones to run again, ones that may have reached the node to report as unknown."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator

import pytest

from bot.coordination.journal import QUEUED, SENDING, Entry, Journal, TakenOver, running
from bot.coordination.presence import LocalPresence, SharedPresence
from bot.coordination.sessions import connect
from bot.store.once import Once
from tests.coordination.conftest import start_python

pytestmark = pytest.mark.postgres


async def process(url: str) -> Journal:
    presence = SharedPresence(url)
    await presence.start()
    return Journal(url, presence)


async def stop(journal: Journal) -> None:
    await journal.presence.close()
    await journal.close_sessions()
    journal.close()


@pytest.fixture
async def here(pg_url: str) -> AsyncIterator[Journal]:
    journal = await process(pg_url)
    yield journal
    await stop(journal)


async def test_a_live_process_keeps_its_commands(pg_url: str, here: Journal) -> None:
    await here.record("command", {"text": "mute alice"})
    there = await process(pg_url)
    try:
        assert await there.take_orphans() == []
    finally:
        await stop(there)


async def test_an_answered_command_leaves_nothing_to_take(pg_url: str, here: Journal) -> None:
    entry = await here.record("command", {"text": "mute alice"})
    await here.done(entry)
    await here.presence.close()  # as if it died now
    there = await process(pg_url)
    try:
        assert await there.take_orphans() == []
    finally:
        await stop(there)


async def taken_once_gone(journal: Journal, within: float = 5.0) -> list[Entry]:
    """What `journal` takes over once the server has ended the killed process's session (its
    server process exits a moment after the client's socket closes, releasing the lock)."""
    deadline = asyncio.get_running_loop().time() + within
    while not (taken := await journal.take_orphans()):
        assert asyncio.get_running_loop().time() < deadline, "nothing taken over"
        await asyncio.sleep(0.05)
    return taken


async def test_a_dead_process_commands_are_taken_in_the_state_they_were_left(
    pg_url: str, here: Journal, other_process
) -> None:
    dying = start_python(
        other_process,
        f"""
        import asyncio
        from bot.coordination.journal import Journal, running
        from bot.coordination.presence import SharedPresence
        async def main():
            presence = SharedPresence({pg_url!r})
            await presence.start()
            journal = Journal({pg_url!r}, presence)
            waiting = await journal.record("command", {{"text": "mute alice"}})
            sent = await journal.record("command", {{"text": "dial bob"}})
            with running(sent):
                await journal.before_change()
            print("ready", flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """,
    )
    assert await here.take_orphans() == []
    dying.send_signal(signal.SIGKILL)
    dying.wait(5)
    taken = await taken_once_gone(here)
    assert [(entry.payload["text"], entry.state) for entry in taken] == [
        ("mute alice", QUEUED),
        ("dial bob", SENDING),
    ]
    assert await here.take_orphans() == []  # they are this process's now


async def test_two_processes_never_claim_the_same_command(pg_url: str) -> None:
    dead = await process(pg_url)
    for n in range(60):
        await dead.record("command", {"n": n})
    await dead.presence.close()
    takers = [await process(pg_url) for _ in range(3)]
    try:
        batches = await asyncio.gather(
            *(taker.take_orphans(limit=7) for taker in takers for _ in range(5))
        )
        claimed = [entry.payload["n"] for batch in batches for entry in batch]
        while any(batches):
            batches = await asyncio.gather(*(taker.take_orphans(limit=7) for taker in takers))
            claimed += [entry.payload["n"] for batch in batches for entry in batch]
        assert sorted(claimed) == list(range(60))
    finally:
        await dead.close_sessions()
        dead.close()
        for taker in takers:
            await stop(taker)


async def test_a_process_presumed_dead_cannot_send_what_was_taken_over(pg_url: str) -> None:
    slow = await process(pg_url)
    entry = await slow.record("command", {"text": "end board-meeting"})
    await slow.presence.close()  # its session lost: the others presume it dead
    there = await process(pg_url)
    try:
        assert [e.id for e in await there.take_orphans()] == [entry.id]
        with running(entry), pytest.raises(TakenOver):
            await slow.before_change()
    finally:
        await slow.close_sessions()
        slow.close()
        await stop(there)


async def test_sqlite_takes_over_an_earlier_run_of_the_process(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/pexbot.db"
    before = Journal(url, LocalPresence())
    await before.record("command", {"text": "mute alice"})
    before.close()
    after = Journal(url, LocalPresence())
    try:
        assert [e.payload["text"] for e in await after.take_orphans()] == ["mute alice"]
    finally:
        after.close()


async def test_commands_recorded_together_each_keep_their_own_record(
    pg_url: str, here: Journal
) -> None:
    """Recorded in one batch (one statement on PostgreSQL), each entry's id is its own row:
    the process that takes them over finds each command under the id its runner knew."""
    entries = await asyncio.gather(
        *(here.record("command", {"text": f"mute guest-{n}"}) for n in range(40))
    )
    assert len({entry.id for entry in entries if entry is not None}) == 40
    await here.presence.close()  # as if it died now
    there = await process(pg_url)
    try:
        taken = {entry.id: entry.payload["text"] for entry in await there.take_orphans(limit=100)}
    finally:
        await stop(there)
    assert taken == {entry.id: entry.payload["text"] for entry in entries if entry is not None}


async def test_changes_marked_together_stop_only_the_one_taken_over(pg_url: str) -> None:
    slow = await process(pg_url)
    lost = await slow.record("command", {"text": "end board-meeting"})
    await slow.presence.close()  # its session lost: the others presume it dead
    there = await process(pg_url)
    try:
        assert [e.id for e in await there.take_orphans()] == [lost.id]
        await slow.presence.start()  # back, under a new number
        kept = [await slow.record("command", {"text": f"mute guest-{n}"}) for n in range(5)]

        async def mark(entry) -> str:
            with running(entry):
                try:
                    await slow.before_change()
                except TakenOver:
                    return "taken over"
            return entry.state

        marked = await asyncio.gather(*(mark(entry) for entry in [*kept, lost]))
        assert marked == [SENDING] * 5 + ["taken over"]
    finally:
        await stop(slow)
        await stop(there)


async def recorded_count(url: str) -> int:
    async with await connect(url, "pexbot test") as session:
        cursor = await session.execute("SELECT count(*) FROM pending_commands")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_a_record_carries_its_replay_claim_and_goes_in_only_if_it_won(
    pg_url: str, here: Journal
) -> None:
    """The two writes of an acknowledgement in one: the request's replay claim, decided by the
    statement that records the command; a replay (the same signature at another process) is
    not recorded, and is known as one without another write."""
    key = f"signature:{secrets.token_hex(16)}"
    mine, elsewhere = Once(pg_url), Once(pg_url)
    await asyncio.to_thread(mine.prepare)
    try:
        first = await mine.claim(key, 60)
        assert first.open
        entry = await here.record("command", {"text": "mute alice"}, first)
        assert entry is not None
        assert not first.open
        assert await first.won()
        replay = await elsewhere.claim(key, 60)
        assert await here.record("command", {"text": "mute alice"}, replay) is None
        assert not replay.open
        assert not await replay.won()
        assert not await elsewhere.first(key, 60)
        assert await recorded_count(pg_url) == 1
    finally:
        for once in (mine, elsewhere):
            await once.close_sessions()
            once.close()
