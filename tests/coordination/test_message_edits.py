"""The edits of one message: one at a time across processes, never an older state last."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from sqlalchemy import update

from bot.coordination.message_edits import KEEP, MessageEdits, MessageVersion
from bot.store.database import database_url


class Message:
    """A Slack message as the edits reach it; fails the test if two edits overlap."""

    def __init__(self) -> None:
        self.editing = False
        self.shown: list[int] = []

    def edit_to(self, version: int):
        async def send() -> None:
            assert not self.editing, "two edits of one message at once"
            self.editing = True
            await asyncio.sleep(random.uniform(0, 0.01))
            self.shown.append(version)
            self.editing = False

        return send


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/pexbot.db"
    return request.getfixturevalue("pg_url")


async def test_edits_from_several_processes_are_serialised_and_only_go_forward(db_url) -> None:
    processes = [MessageEdits(db_url) for _ in range(3 if "postgres" in db_url else 1)]
    message = Message()
    versions = list(range(1, 61))
    random.shuffle(versions)
    try:
        results = await asyncio.gather(
            *(
                processes[n % len(processes)].edit("roster:C1:1.0", v, message.edit_to(v))
                for n, v in enumerate(versions)
            )
        )
        assert message.shown == sorted(message.shown)  # never backwards
        assert message.shown[-1] == 60  # the newest state is what stays
        assert sum(results) == len(message.shown)
        assert await processes[0].last_version("roster:C1:1.0") == 60
    finally:
        for edits in processes:
            await edits.close()


async def test_a_stale_or_repeated_edit_is_skipped(db_url) -> None:
    edits = MessageEdits(db_url)
    message = Message()
    try:
        assert await edits.edit("lobby:p1", 5, message.edit_to(5))
        assert not await edits.edit("lobby:p1", 5, message.edit_to(5))
        assert not await edits.edit("lobby:p1", 3, message.edit_to(3))
        assert await edits.edit("lobby:p2", 1, message.edit_to(1))  # another message
        assert message.shown == [5, 1]
    finally:
        await edits.close()


async def test_a_failed_edit_records_nothing_and_frees_the_message(db_url) -> None:
    edits = MessageEdits(db_url)
    message = Message()

    async def rate_limited() -> None:
        raise RuntimeError("ratelimited")

    try:
        with pytest.raises(RuntimeError):
            await edits.edit("approval:r1", 2, rate_limited)
        assert await asyncio.wait_for(edits.edit("approval:r1", 2, message.edit_to(2)), 2)
        assert message.shown == [2]
    finally:
        await edits.close()


async def test_a_restarted_process_remembers_the_last_edit(db_url) -> None:
    before = MessageEdits(db_url)
    await before.edit("roster:C1:2.0", 7, Message().edit_to(7))
    await before.close()
    after = MessageEdits(db_url)
    try:
        assert not await after.edit("roster:C1:2.0", 6, Message().edit_to(6))
    finally:
        await after.close()


async def test_versions_untouched_for_a_month_are_deleted_by_the_next_edit(db_url) -> None:
    """Approvals and dials leave one version each; nothing else forgets them (live messages
    do, with their records): a month later a process's next edit of any message deletes them."""
    message = Message()
    edits = MessageEdits(db_url)
    try:
        assert await edits.edit("approval:old", 2, message.edit_to(2))
        assert await edits.edit("approval:recent", 2, message.edit_to(2))
    finally:
        await edits.close()
    engine = sqlalchemy.create_engine(database_url(db_url))
    with engine.begin() as connection:
        connection.execute(
            update(MessageVersion)
            .where(MessageVersion.key == "approval:old")
            .values(updated_at=datetime.now(UTC) - KEEP - timedelta(minutes=1))
        )
    engine.dispose()
    edits = MessageEdits(db_url)  # a process started later (or restarted)
    try:
        assert await edits.edit("dial:new", 1, message.edit_to(1))
        assert await edits.last_version("approval:old") is None
        assert await edits.last_version("approval:recent") == 2
        assert await edits.last_version("dial:new") == 1
    finally:
        await edits.close()
