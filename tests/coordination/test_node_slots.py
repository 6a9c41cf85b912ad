"""PEXIP_MAX_CONCURRENCY across processes: the slots are session advisory locks on one
PostgreSQL database. Each `SharedSlots` has its own sessions, as each process has."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time

import pytest

from bot.coordination.node_slots import LocalSlots, SharedSlots, node_slots
from bot.coordination.sessions import connect
from tests.coordination.conftest import start_python

pytestmark = pytest.mark.postgres


class InFlight:
    """Counts the holders inside their slot at once, as the node would see them."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.done = 0

    async def request(self, slots: SharedSlots | LocalSlots, seconds: float = 0.005) -> None:
        async with slots.hold():
            self.now += 1
            self.most = max(self.most, self.now)
            await asyncio.sleep(seconds)
            self.now -= 1
            self.done += 1


@pytest.mark.parametrize("cap", [1, 2, 3])
async def test_processes_together_never_exceed_the_cap(pg_url: str, cap: int) -> None:
    processes = [SharedSlots(pg_url, cap) for _ in range(4)]
    seen = InFlight()
    try:
        await asyncio.gather(*(seen.request(slots) for slots in processes for _ in range(15)))
    finally:
        for slots in processes:
            await slots.close()
    assert seen.done == 60
    assert seen.most == cap


async def test_a_process_opens_no_more_sessions_than_the_cap(pg_url: str) -> None:
    slots = SharedSlots(pg_url, 2, name="pexbot serve counted")
    try:
        await asyncio.gather(*(InFlight().request(slots) for _ in range(20)))
        async with await connect(pg_url, "pexbot test") as session:
            cursor = await session.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                ("pexbot serve counted",),
            )
            assert await cursor.fetchone() == (2,)
    finally:
        await slots.close()


async def sessions_named(url: str, name: str) -> int:
    async with await connect(url, "pexbot test") as session:
        cursor = await session.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_the_slots_sessions_are_open_before_the_first_request(pg_url: str) -> None:
    """Opened at start-up (`Runtime.open`), so that a new process's first requests to the node
    wait for no new connection; the requests then use those, and open no others."""
    slots = SharedSlots(pg_url, 2, name="pexbot serve ready")
    try:
        await slots.open()
        assert await sessions_named(pg_url, "pexbot serve ready") == 2
        await asyncio.gather(*(InFlight().request(slots) for _ in range(10)))
        assert await sessions_named(pg_url, "pexbot serve ready") == 2
    finally:
        await slots.close()
    assert await sessions_named(pg_url, "pexbot serve ready") == 0


async def test_without_the_database_requests_go_on_under_the_process_cap(caplog) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    slots = SharedSlots(f"postgresql://pexbot@127.0.0.1:{port}/none?connect_timeout=2", 2)
    seen = InFlight()
    try:
        await slots.open()  # start-up goes on
        await asyncio.gather(*(seen.request(slots) for _ in range(10)))
    finally:
        await slots.close()
    assert (seen.done, seen.most) == (10, 2)
    assert caplog.text.count("this process caps the node on its own") == 1


async def test_a_killed_process_releases_its_slot_at_once(pg_url: str, other_process) -> None:
    holder = start_python(
        other_process,
        f"""
        import asyncio, time
        from bot.coordination.node_slots import SharedSlots
        async def main():
            slots = SharedSlots({pg_url!r}, 1)
            async with slots.hold():
                print("ready", flush=True)
                await asyncio.sleep(60)
        asyncio.run(main())
        """,
    )
    here = SharedSlots(pg_url, 1)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5), here.hold():
                pass
        assert await _waited_once_killed(holder, here) < 2.0
    finally:
        await here.close()


async def test_a_waiter_cancelled_in_the_queue_leaves_no_lock_behind(pg_url: str) -> None:
    first, second = SharedSlots(pg_url, 1), SharedSlots(pg_url, 1)
    try:
        async with first.hold():
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3), second.hold():
                    pass
        async with asyncio.timeout(2), second.hold():
            # while `second` holds the slot, `first` cannot have it
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3), first.hold():
                    pass
    finally:
        await first.close()
        await second.close()


async def test_a_process_with_requests_queued_does_not_keep_the_slot_from_another(
    pg_url: str,
) -> None:
    """A holder hands its session to the next request of its process, which releases the slot
    and queues again in one statement: another process already queued comes first."""
    busy, other = SharedSlots(pg_url, 1), SharedSlots(pg_url, 1)
    order: list[str] = []
    first_in = asyncio.Event()

    async def request(slots: SharedSlots, name: str) -> None:
        async with slots.hold():
            order.append(name)
            first_in.set()
            await asyncio.sleep(0.03)

    try:
        queued = [asyncio.create_task(request(busy, f"busy {n}")) for n in range(10)]
        await first_in.wait()
        await asyncio.sleep(0.005)  # `other` asks while `busy` holds, with 9 queued behind
        await asyncio.wait_for(request(other, "other"), 2)
        await asyncio.gather(*queued)
    finally:
        await busy.close()
        await other.close()
    assert order.index("other") <= 2, order
    assert len(order) == 11


async def test_a_killed_process_handing_its_slot_on_releases_it_at_once(
    pg_url: str, other_process
) -> None:
    holder = start_python(
        other_process,
        f"""
        import asyncio
        from bot.coordination.node_slots import SharedSlots
        async def request(slots, seconds):
            async with slots.hold():
                await asyncio.sleep(seconds)
        async def main():
            slots = SharedSlots({pg_url!r}, 1)
            requests = [asyncio.create_task(request(slots, 0.1)) for _ in range(100)]
            await asyncio.sleep(0.5)  # several handed on by now
            print("ready", flush=True)
            await asyncio.gather(*requests)
        asyncio.run(main())
        """,
    )
    here = SharedSlots(pg_url, 1)
    try:
        assert await _waited_once_killed(holder, here) < 2.0
    finally:
        await here.close()


async def test_a_request_cancelled_as_the_slot_is_handed_to_it_passes_it_on(pg_url: str) -> None:
    slots, other = SharedSlots(pg_url, 1), SharedSlots(pg_url, 1)
    seen = InFlight()
    try:
        async with slots.hold():
            handed = asyncio.create_task(seen.request(slots))
            behind = asyncio.create_task(seen.request(slots))
            await asyncio.sleep(0.05)  # both queued in this process
        handed.cancel()  # handed the slot as this block ended, cancelled before it ran
        await asyncio.wait_for(behind, 2)
        assert handed.cancelled()
        async with asyncio.timeout(2), other.hold():  # nothing left holding it
            pass
        async with asyncio.timeout(2), slots.hold():  # and this process's places are all back
            pass
    finally:
        await slots.close()
        await other.close()
    assert (seen.done, seen.most) == (1, 1)


async def test_a_request_cancelled_in_the_process_queue_loses_no_place(pg_url: str) -> None:
    slots = SharedSlots(pg_url, 2)
    seen = InFlight()
    try:
        holders = [asyncio.create_task(seen.request(slots, 0.1)) for _ in range(2)]
        await asyncio.sleep(0.02)
        cancelled = asyncio.create_task(seen.request(slots))
        after = [asyncio.create_task(seen.request(slots)) for _ in range(4)]
        await asyncio.sleep(0.02)
        cancelled.cancel()
        await asyncio.wait_for(asyncio.gather(*holders, *after), 5)
        await asyncio.wait_for(asyncio.gather(*(seen.request(slots) for _ in range(2))), 2)
    finally:
        await slots.close()
    assert (seen.done, seen.most) == (8, 2)


def test_sqlite_keeps_the_cap_per_process(tmp_path) -> None:
    assert isinstance(node_slots(f"sqlite:///{tmp_path}/pexbot.db", 2), LocalSlots)
    assert isinstance(node_slots(None, 2), LocalSlots)


async def _waited_once_killed(holder: subprocess.Popen[str], here: SharedSlots) -> float:
    """Seconds `here` waited for a slot once the process holding it was killed (SIGKILL)."""
    holder.send_signal(signal.SIGKILL)
    started = time.monotonic()
    async with asyncio.timeout(5), here.hold():
        return time.monotonic() - started
