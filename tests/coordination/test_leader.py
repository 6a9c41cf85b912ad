"""One acting clock: the holder of the leader lock leads; another takes over when it goes."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from bot.coordination.leader import LocalLeader, SharedLeader, clock_leader, describe_leader
from tests.coordination.conftest import start_python

pytestmark = pytest.mark.postgres


async def test_one_leads_the_other_waits_then_takes_over(pg_url: str) -> None:
    first, second = SharedLeader(pg_url, name="clock one"), SharedLeader(pg_url, name="clock two")
    try:
        await asyncio.wait_for(first.lead(), 5)
        waiting = asyncio.create_task(second.lead())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        info = await describe_leader(pg_url)
        assert (info.name, info.waiting) == ("clock one", 1)
        assert info.since is not None

        await first.close()
        await asyncio.wait_for(waiting, 2)
        assert (await describe_leader(pg_url)).name == "clock two"
    finally:
        await first.close()
        await second.close()


async def test_a_killed_leader_is_replaced_at_once(pg_url: str, other_process) -> None:
    leader = start_python(
        other_process,
        f"""
        import asyncio
        from bot.coordination.leader import SharedLeader
        async def main():
            leader = SharedLeader({pg_url!r}, name="pexbot clock elsewhere")
            await leader.lead()
            print("ready", flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """,
    )
    assert (await describe_leader(pg_url)).name == "pexbot clock elsewhere"
    here = SharedLeader(pg_url, name="pexbot clock here")
    try:
        waiting = asyncio.create_task(here.lead())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        leader.send_signal(signal.SIGKILL)
        started = time.monotonic()
        await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - started < 2.0
        assert (await describe_leader(pg_url)).name == "pexbot clock here"
    finally:
        await here.close()


async def test_the_leader_notices_a_lost_session(pg_url: str, monkeypatch) -> None:
    monkeypatch.setattr("bot.coordination.leader.CHECK_EVERY", 0.05)
    leader, admin = SharedLeader(pg_url, name="doomed clock"), SharedLeader(pg_url, name="admin")
    try:
        await leader.lead()
        lost = asyncio.create_task(leader.lost())
        await asyncio.sleep(0.2)
        assert not lost.done()
        from bot.coordination.sessions import connect

        async with await connect(pg_url, "admin") as session:
            await session.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'doomed clock'"
            )
        await asyncio.wait_for(lost, 5)
        assert (await describe_leader(pg_url)).name is None
    finally:
        await leader.close()
        await admin.close()


async def test_nobody_leads_when_no_clock_runs(pg_url: str) -> None:
    info = await describe_leader(pg_url)
    assert (info.name, info.waiting) == (None, 0)


async def test_sqlite_has_one_clock_which_leads(tmp_path) -> None:
    leader = clock_leader(f"sqlite:///{tmp_path}/pexbot.db")
    assert isinstance(leader, LocalLeader)
    await asyncio.wait_for(leader.lead(), 1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(leader.lost(), 0.1)
