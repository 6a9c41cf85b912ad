"""`bot.command_queue`: acknowledged commands run in arrival order, a bounded number at once, and
what was acknowledged before a shutdown is given time to finish."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.command_queue import CommandQueue


class Recorder:
    """Commands that note when they start and finish; `gate` holds them until it is set."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.gate = asyncio.Event()

    def command(self, name: str, *, wait: bool = True):  # type: ignore[no-untyped-def]
        async def run() -> None:
            self.started.append(name)
            if wait:
                await self.gate.wait()
            self.finished.append(name)

        return run


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_commands_start_in_arrival_order_and_no_more_than_the_limit_at_once() -> None:
    queue, seen = CommandQueue(limit=2), Recorder()
    for name in "abcde":
        queue.submit(seen.command(name))
    await settle()

    assert seen.started == ["a", "b"]  # c, d, e wait their turn
    assert queue.busy

    seen.gate.set()
    await queue.drain(grace=5)

    assert seen.started == list("abcde")
    assert sorted(seen.finished) == list("abcde")
    assert not queue.busy


async def test_a_command_that_needs_nothing_slow_runs_at_once_while_others_wait_on_the_node() -> (
    None
):
    queue, seen = CommandQueue(limit=4), Recorder()
    for name in ("mute-1", "mute-2"):
        queue.submit(seen.command(name))  # held, as if waiting for the node
    queue.submit(seen.command("help", wait=False))
    await settle()

    assert seen.finished == ["help"]
    seen.gate.set()
    await queue.drain(grace=5)


async def test_what_cannot_wait_runs_at_once_even_when_the_queue_is_full() -> None:
    queue, seen = CommandQueue(limit=1), Recorder()
    queue.submit(seen.command("stuck"))
    queue.submit(seen.command("waiting"))
    queue.submit(seen.command("open form", wait=False), at_once=True)
    await settle()

    assert seen.finished == ["open form"]
    assert seen.started == ["stuck", "open form"]
    seen.gate.set()
    await queue.drain(grace=5)
    assert seen.started == ["stuck", "open form", "waiting"]


async def test_a_failing_command_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, seen = CommandQueue(limit=1), Recorder()

    async def broken() -> None:
        raise RuntimeError("a bug")

    queue.submit(broken)
    queue.submit(seen.command("next", wait=False))
    with caplog.at_level(logging.ERROR, logger="bot.command_queue"):
        await queue.drain(grace=5)

    assert seen.finished == ["next"]
    assert "failed outside the runner" in caplog.text


async def test_shutdown_waits_for_acknowledged_commands_within_the_grace() -> None:
    queue, seen = CommandQueue(limit=1), Recorder()
    queue.submit(seen.command("first"))
    queue.submit(seen.command("second"))
    await settle()

    asyncio.get_running_loop().call_later(0.05, seen.gate.set)
    await queue.drain(grace=5)

    assert seen.finished == ["first", "second"]


async def test_after_the_grace_shutdown_cancels_and_says_how_many_got_no_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue, seen = CommandQueue(limit=1), Recorder()
    for name in ("stuck", "waiting-1", "waiting-2"):
        queue.submit(seen.command(name))
    await settle()

    with caplog.at_level(logging.WARNING, logger="bot.command_queue"):
        await asyncio.wait_for(queue.drain(grace=0.1), timeout=2)

    assert seen.started == ["stuck"] and seen.finished == []
    assert not queue.busy
    assert "1 command(s) in progress and 2 waiting" in caplog.text


def test_a_queue_needs_room_for_at_least_one_command() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CommandQueue(limit=0)


async def test_a_command_queued_while_only_at_once_work_runs_still_runs() -> None:
    """Limit 1: a form opened at once must not count as the queue's worker. Before the fix the
    form filled the limit after the last worker had exited, and `late` was never run."""
    queue, seen = CommandQueue(limit=1), Recorder()
    form_gate = asyncio.Event()

    async def open_form() -> None:
        seen.started.append("form")
        await form_gate.wait()
        seen.finished.append("form")

    queue.submit(seen.command("first", wait=False))
    queue.submit(open_form, at_once=True)
    await settle()  # `first` done, its worker gone; the form still open
    queue.submit(seen.command("late", wait=False))
    await settle()

    assert seen.finished == ["first", "late"]
    form_gate.set()
    await asyncio.wait_for(queue.drain(grace=5), timeout=2)
    assert not queue.busy


async def test_a_command_queued_as_the_last_worker_finishes_still_runs() -> None:
    """Submitted in the same loop turn the worker returns, before its task is reaped."""
    queue, seen = CommandQueue(limit=1), Recorder()
    late = seen.command("late", wait=False)

    async def first() -> None:
        seen.started.append("first")
        # runs after this coroutine returns but before the done callbacks of its task
        asyncio.get_running_loop().call_soon(queue.submit, late)

    queue.submit(first)
    await settle()
    await settle()

    assert seen.started == ["first", "late"]
    await asyncio.wait_for(queue.drain(grace=5), timeout=2)
    assert not queue.busy


async def test_drain_waits_for_forms_opened_at_once_too() -> None:
    queue, seen = CommandQueue(limit=1), Recorder()
    queue.submit(seen.command("form"), at_once=True)
    await settle()
    asyncio.get_running_loop().call_later(0.05, seen.gate.set)
    await queue.drain(grace=5)
    assert seen.finished == ["form"]


# --- the door comes first ------------------------------------------------------------------


async def test_a_queued_command_waits_while_a_request_is_being_answered() -> None:
    queue, seen = CommandQueue(limit=4, give_way=5), Recorder()
    queue.door.enter()  # a request is being read and acknowledged
    queue.submit(seen.command("mute", wait=False))
    await asyncio.sleep(0.05)
    assert seen.started == []

    queue.door.leave()  # answered: the door is quiet
    await settle()
    assert seen.finished == ["mute"]
    await queue.drain(grace=1)


async def test_a_command_is_not_starved_while_requests_keep_arriving() -> None:
    """The door never goes quiet (requests overlap): each command still starts once it has
    given way for `give_way` seconds since it was queued, in arrival order."""
    queue = CommandQueue(limit=4, give_way=0.2)
    loop = asyncio.get_running_loop()
    arriving = True

    async def requests() -> None:
        queue.door.enter()
        while arriving:  # each new request arrives before the last is answered
            queue.door.enter()
            await asyncio.sleep(0.005)
            queue.door.leave()

    started: list[tuple[str, float]] = []

    def command(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            started.append((name, loop.time()))

        return run

    door = asyncio.create_task(requests())
    await asyncio.sleep(0.01)
    queued_at = loop.time()
    queue.submit(command("first"))
    queue.submit(command("second"))
    await asyncio.sleep(0.1)
    assert started == [], "gives way while requests are being answered"

    await asyncio.sleep(0.2)
    assert [name for name, _ in started] == ["first", "second"]
    assert all(0.2 <= at - queued_at < 0.35 for _, at in started)
    assert queue.door.open, "the door was busy all along"
    arriving = False
    await door
    await queue.drain(grace=1)


async def test_with_the_door_idle_a_command_starts_at_once() -> None:
    queue, seen = CommandQueue(limit=4, give_way=5), Recorder()
    queue.submit(seen.command("mute", wait=False))
    await settle()
    assert seen.finished == ["mute"]


async def test_a_command_that_opens_a_form_does_not_give_way() -> None:
    """Slack lets a form open only within 3 s of the command: it runs at once, door or not."""
    queue, seen = CommandQueue(limit=4, give_way=5), Recorder()
    queue.door.enter()
    queue.submit(seen.command("dial", wait=False), at_once=True)
    await settle()
    assert seen.finished == ["dial"]
    queue.door.leave()


async def test_a_command_gives_way_to_a_burst_even_between_its_requests() -> None:
    """A request is usually read and answered in one turn of the event loop, so between two
    requests of a burst none is open: the command still waits until they stop coming."""
    queue = CommandQueue(limit=4, give_way=5)
    loop = asyncio.get_running_loop()
    started: list[float] = []

    async def command() -> None:
        started.append(loop.time())

    for _ in range(3):  # a burst: one request after the other, never two open at once
        queue.door.enter()
        queue.door.leave()
        await asyncio.sleep(0.002)
    queue.door.enter()  # the command's own request
    queue.submit(command)
    queue.door.leave()
    for _ in range(20):  # 20 more, 2 ms apart
        await asyncio.sleep(0.002)
        queue.door.enter()
        queue.door.leave()
    last_answered = loop.time()
    assert started == []

    await asyncio.sleep(0.1)
    assert len(started) == 1
    assert started[0] - last_answered < 0.05  # shortly after the burst, not after give_way
    await queue.drain(grace=1)


async def test_a_backup_download_sees_commands_waiting_or_in_progress_but_not_its_own() -> None:
    """`working` is what a download gives way to (`bot.pexip.give_way.ModerationFirst`); the command
    that downloads sets itself aside, else it would wait for itself."""
    queue, seen = CommandQueue(limit=1), Recorder()
    assert not queue.working
    arrived = asyncio.Event()
    inside: list[tuple[str, bool]] = []

    async def backup_now() -> None:
        inside.append(("alone", queue.working))
        with queue.set_aside():
            inside.append(("alone, set aside", queue.working))
            await arrived.wait()
            inside.append(("set aside, a command in progress", queue.working))
            await seen.gate.wait()
        inside.append(("counted again", queue.working))

    queue.submit(backup_now, at_once=True)
    assert queue.working  # counted before its task starts
    await settle()
    assert not queue.working
    await asyncio.wait_for(queue.wait_until_quiet(), timeout=1)

    queue.submit(seen.command("mute"))  # a moderator's command, held as if at the node
    assert queue.working
    quiet = asyncio.create_task(queue.wait_until_quiet())
    arrived.set()
    await settle()
    assert not quiet.done()

    seen.gate.set()
    await asyncio.wait_for(quiet, timeout=1)
    await queue.drain(grace=5)
    assert not queue.working
    assert inside == [
        ("alone", True),
        ("alone, set aside", False),
        ("set aside, a command in progress", True),
        ("counted again", True),
    ]


async def test_set_aside_outside_a_command_changes_nothing() -> None:
    queue, seen = CommandQueue(limit=1), Recorder()
    queue.submit(seen.command("a"))
    with queue.set_aside():  # e.g. the clock process's download: no command of this queue
        assert queue.working
    seen.gate.set()
    await queue.drain(grace=5)
    assert not queue.working


# --- garbage collected while idle (bot.idle_collection) -----------------------------------------


class FullCollections:
    """Counts full (generation 2) collections while in use; gc.collect(1) brings one nearer."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            self.count += 1

    def __enter__(self) -> FullCollections:
        import gc

        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.callbacks.remove(self)


def _bring_a_full_collection_near() -> None:
    """Each middle-generation collection counts one towards the next full one (CPython)."""
    import gc

    gc.collect()  # the count starts again
    for _ in range(gc.get_threshold()[2] // 2 + 1):
        gc.collect(1)


async def test_once_nothing_is_left_to_do_a_due_full_collection_is_done_then() -> None:
    import gc

    queue, seen = CommandQueue(), Recorder()
    _bring_a_full_collection_near()
    with FullCollections() as full:
        queue.submit(seen.command("mute", wait=False))
        await settle()
        assert seen.finished == ["mute"] and full.count == 0  # not while it ran
        await asyncio.sleep(0.05)
    assert full.count == 1
    assert gc.get_count()[2] == 0  # the next burst starts the count from nothing


async def test_no_collection_while_a_request_is_being_answered_or_one_is_not_due() -> None:
    import gc

    queue, seen = CommandQueue(), Recorder()
    _bring_a_full_collection_near()
    with FullCollections() as full:
        queue.door.enter()  # a request is being answered: the command gives way, then runs
        queue.submit(seen.command("mute", wait=False))
        await asyncio.sleep(0.4)
        assert seen.finished == ["mute"]
        await asyncio.sleep(0.05)
        assert full.count == 0
        queue.door.leave()

    gc.collect()  # none due now
    with FullCollections() as full:
        queue.submit(seen.command("unmute", wait=False))
        await asyncio.sleep(0.05)
    assert seen.finished == ["mute", "unmute"] and full.count == 0
