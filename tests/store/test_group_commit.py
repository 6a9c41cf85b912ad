"""`bot.store.group_commit`: one writer thread; what queues while it writes goes in one batch; each
caller waits for its own item and gets its own error."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.store.group_commit import GroupCommit


async def test_items_queued_during_a_write_share_the_next_batch() -> None:
    batches: list[list[int]] = []
    first_started, let_first_finish = threading.Event(), threading.Event()

    def write(items: list[int]) -> None:
        batches.append(list(items))
        if len(batches) == 1:
            first_started.set()
            let_first_finish.wait(5)

    writer: GroupCommit[int] = GroupCommit(write, name="test")
    first = asyncio.create_task(writer.submit(0))
    await asyncio.to_thread(first_started.wait, 5)
    rest = [asyncio.create_task(writer.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.05)
    let_first_finish.set()
    await asyncio.gather(first, *rest)
    writer.close()
    assert batches == [[0], [1, 2, 3, 4, 5]]


async def test_submit_returns_only_after_the_write() -> None:
    written: list[str] = []
    writer: GroupCommit[str] = GroupCommit(written.extend, name="test")
    await writer.submit("a")
    assert written == ["a"]
    writer.close()


async def test_a_bad_item_fails_alone() -> None:
    written: list[int] = []

    def write(items: list[int]) -> None:
        if 13 in items:
            raise ValueError("unlucky")
        written.extend(items)

    gate = threading.Event()

    def slow_write(items: list[int]) -> None:
        gate.wait(5)
        write(items)

    writer: GroupCommit[int] = GroupCommit(slow_write, name="test")
    results = asyncio.gather(*(writer.submit(i) for i in (12, 13, 14)), return_exceptions=True)
    await asyncio.sleep(0.05)
    gate.set()
    outcomes = await results
    writer.close()
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "ValueError", "NoneType"]
    assert sorted(written) == [12, 14]


async def test_close_waits_for_the_write_under_way() -> None:
    written: list[int] = []
    started = threading.Event()

    def write(items: list[int]) -> None:
        started.set()
        threading.Event().wait(0.1)
        written.extend(items)

    writer: GroupCommit[int] = GroupCommit(write, name="test")
    pending = asyncio.create_task(writer.submit(1))
    await asyncio.to_thread(started.wait, 5)
    await asyncio.to_thread(writer.close)
    assert written == [1]
    await pending


def test_the_writer_thread_starts_only_when_needed() -> None:
    before = threading.active_count()
    writer: GroupCommit[int] = GroupCommit(lambda items: None, name="idle")
    assert threading.active_count() == before
    writer.close()


@pytest.mark.parametrize("count", [1, 50])
async def test_every_item_is_written_once(count: int) -> None:
    written: list[int] = []
    writer: GroupCommit[int] = GroupCommit(written.extend, name="test")
    await asyncio.gather(*(writer.submit(i) for i in range(count)))
    writer.close()
    assert sorted(written) == list(range(count))
