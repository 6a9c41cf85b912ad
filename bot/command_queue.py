"""Acknowledged commands waiting to run: in arrival order, at most `limit` in progress at once.

Slack is answered the moment a listener acknowledges; the command runs afterwards. Run as one
task per request, a burst left hundreds of tasks waiting for the node's concurrency cap, each
still holding its whole Bolt request (~70 objects the garbage collector rescans): full
collections grew to 20-30 ms, stalling every acknowledgement in flight (bench/: the ack case).
Queued here, a waiting command is one small `partial`, and only `limit` are in progress. The
limit is well above any node cap, so a command that needs no node call (help, a typo) is not
held up unless that many are already stuck waiting for the node. What cannot wait at all (a
form, which Slack lets open only within 3 s of the click) runs at once, outside the limit.

The door comes first: a queued command does not start while requests are being received and
answered (`Door`, kept by the HTTP server and the Socket Mode link), or while more keep arriving
after it (a burst), for at most `GIVE_WAY` seconds after it was queued. Slack's acknowledgement
has a hard 3 s deadline and a result has none; in a burst, the commands' work (node calls,
Slack posts, audit rows: ~3x an acknowledgement's CPU) otherwise shares the event loop with
every acknowledgement still to come (bench/: the `baseline` case). The bound keeps commands
from being starved by a door that never goes quiet; when no other request comes, nothing
waits. Commands already in progress are not paused.

Every acknowledged command must run or be answered: the number of queue workers is counted
by the workers themselves, synchronously with their last look at the queue, so a command
submitted as a worker finishes (before its task is reaped), or while only at-once work is in
progress, always finds or starts a worker.

Once nothing is left to do and the door is quiet, a garbage collection that would otherwise fall
in the next burst is done (`bot.idle_collection`).

A backup download gives way to moderation while commands are under way (`working`,
`wait_until_quiet`): for the whole of a command (waiting for the door, its node requests, audit
row and Slack post), not only while it is at the node. The command that downloads is
`set_aside` meanwhile, so the download does not wait for itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bot.idle_collection import collect_if_due

log = logging.getLogger(__name__)

COMMANDS_AT_ONCE = 64
GIVE_WAY = 0.3
"""Longest a queued command waits for the door to be quiet, from when it was queued."""
CALM = 0.005
"""After a burst (requests that came after a command), the door is quiet once no request has
been answered for this long."""

Command = Callable[[], Awaitable[None]]


@dataclass
class _InProgress:
    queue: CommandQueue
    aside: bool = False
    ended: bool = False  # a task the command started may outlive it, in a copy of its context


_current: ContextVar[_InProgress | None] = ContextVar("pexbot_command_in_progress", default=None)


class Door:
    """Requests being received and answered; queued commands give way to them (`give_way`)."""

    def __init__(self) -> None:
        self.open = 0  # requests being received or answered now
        self.arrivals = 0  # requests so far
        self._answered_at = 0.0  # when the last one was answered (time.monotonic())
        self._closed = asyncio.Event()  # no request open
        self._closed.set()
        self._turn = asyncio.Lock()  # one waiting command watches the door at a time

    def enter(self) -> None:
        """A request arrived: call `leave` once it is answered (or abandoned)."""
        self.open += 1
        self.arrivals += 1
        self._closed.clear()

    def leave(self) -> None:
        self.open -= 1
        self._answered_at = time.monotonic()
        if not self.open:
            self._closed.set()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the whole of one request, from reading it to sending its answer."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    def idle(self) -> bool:
        """No request open, and none answered in the last `CALM` seconds."""
        return not self.open and time.monotonic() - self._answered_at >= CALM

    def mark(self) -> int | None:
        """For a command queued now: the arrivals so far if its request came alone (no other
        open, none answered in the last `CALM` seconds), else None (in a burst)."""
        alone = self.open <= 1 and time.monotonic() - self._answered_at >= CALM
        return self.arrivals if alone else None

    async def give_way(self, until: float, mark: int | None) -> None:
        """Return once the door is quiet for a command queued with `mark`, or at `until`
        (time.monotonic()) at the latest. Quiet: no request open and, unless the command's
        request came alone and none came since, none answered for `CALM` seconds. A request is
        usually read and answered in one turn of the event loop, so "none open" alone would be
        true between any two requests of a burst."""
        async with self._turn:
            await self.quiet(until, mark)

    async def quiet(self, until: float, mark: int | None = None) -> None:
        """Return once the door is quiet (as `give_way`), or at `until` at the latest, without
        waiting for a turn: for background work that is not a command (the seen-once writes,
        `bot.store.once`)."""
        while (left := until - time.monotonic()) > 0:
            if self.open:
                with suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._closed.wait()
                continue
            if self.arrivals == mark:  # its request came alone, and none since
                return
            calm = CALM - (time.monotonic() - self._answered_at)
            if calm <= 0:
                return
            await asyncio.sleep(min(calm, left))


class CommandQueue:
    def __init__(self, limit: int = COMMANDS_AT_ONCE, give_way: float = GIVE_WAY) -> None:
        if limit < 1:
            raise ValueError("a command queue needs a limit of at least 1")
        self.limit = limit
        self.give_way = give_way
        self.door = Door()
        # (when queued, the door's mark then, command)
        self._waiting: deque[tuple[float, int | None, Command]] = deque()
        self._workers = 0  # queue workers that will look at `_waiting` again
        self._tasks: set[asyncio.Task[None]] = set()  # every task in progress, at-once ones too
        self._in_progress = 0  # commands taken from the queue (or at once), not set aside
        self._quiet = asyncio.Event()  # nothing waiting or in progress but set-aside commands
        self._quiet.set()

    def submit(self, command: Command, *, at_once: bool = False) -> None:
        """Run `command` after those already waiting, once the door is quiet (`GIVE_WAY`), or
        `at_once` whatever is waiting (call it inside the event loop)."""
        if at_once:
            self._in_progress += 1  # counted now: the task starts later
            self._start(self._run(command))
            self._note_work()
            return
        self._waiting.append((time.monotonic(), self.door.mark(), command))
        self._note_work()
        if self._workers < self.limit:
            self._workers += 1
            self._start(self._work())

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work, name="pexbot-command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> bool:
        """Commands are waiting or in progress."""
        return bool(self._waiting or self._running())

    @property
    def working(self) -> bool:
        """Commands are waiting or in progress, apart from those `set_aside`: what a backup
        download gives way to."""
        return not self._quiet.is_set()

    async def wait_until_quiet(self) -> None:
        """Return once no command is `working`."""
        await self._quiet.wait()

    @contextmanager
    def set_aside(self) -> Iterator[None]:
        """Inside a command of this queue: the command stops counting as `working` until the
        block ends (a backup download gives way to other commands, not to the one that runs
        it). Outside one (e.g. the clock process) it changes nothing."""
        current = _current.get()
        if current is None or current.queue is not self or current.aside or current.ended:
            yield
            return
        current.aside = True
        self._uncount()
        try:
            yield
        finally:
            current.aside = False
            self._in_progress += 1
            self._note_work()

    def _note_work(self) -> None:
        if self._waiting or self._in_progress > 0:
            self._quiet.clear()
        elif not self._quiet.is_set():
            self._quiet.set()
            asyncio.get_running_loop().call_later(CALM, self._idle)

    def _idle(self) -> None:
        """Nothing has been left to do for `CALM` seconds: if no request is being answered
        either, the garbage collection that would otherwise fall in the next burst is done now
        (`bot.idle_collection`)."""
        if self._quiet.is_set() and self.door.idle():
            collect_if_due()

    def _uncount(self) -> None:
        self._in_progress -= 1
        self._note_work()

    async def _work(self) -> None:
        try:
            while self._waiting:
                queued_at, mark, command = self._waiting.popleft()
                self._in_progress += 1  # no await since it left `_waiting`: still counted
                try:
                    await self.door.give_way(queued_at + self.give_way, mark)
                except BaseException:
                    self._uncount()
                    raise
                await self._run(command)
        finally:
            # no await between the last look at the queue and this: a submit after it starts
            # a new worker, a submit before it was taken by the loop above
            self._workers -= 1

    async def _run(self, command: Command) -> None:
        """Run a command counted in `_in_progress` by the caller; uncount it when it ends."""
        this = _InProgress(self)
        token = _current.set(this)
        try:
            await command()
        except Exception:  # the runner answers every error; this is a bug, kept visible
            log.exception("a command failed outside the runner's error handling")
        finally:
            _current.reset(token)
            this.ended = True
            self._uncount()

    async def drain(self, grace: float) -> None:
        """On shutdown: let what was acknowledged finish for up to `grace` seconds, then cancel
        what is in progress and drop what is still waiting (logged with its count)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while (running := self._running()) and (left := deadline - loop.time()) > 0:
            await asyncio.wait(running, timeout=left)
        running = self._running()
        if running or self._waiting:
            log.warning(
                "shutting down with %d command(s) in progress and %d waiting: not finished here "
                "(their records let another process, or the next start, answer them)",
                len(running),
                len(self._waiting),
            )
        self._waiting.clear()
        for worker in running:
            worker.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._workers = 0  # a worker cancelled before it started never counted itself out
        self._in_progress = 0  # nor did an at-once command
        self._note_work()

    def _running(self) -> set[asyncio.Task[None]]:
        return {task for task in self._tasks if not task.done()}
