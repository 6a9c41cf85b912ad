"""Group commit: many coroutines hand items to one writer thread, which writes together
whatever has queued up while it was busy.

    writer = GroupCommit(write_rows, name="audit")   # write_rows(list[T]) -> None, blocking
    await writer.submit(row)                         # returns once `row` has been written
    writer.close()                                   # waits for writes under way

One thread instead of one per call keeps database work from competing with the event loop for
the GIL, and one transaction for a whole batch costs one commit (one fsync) instead of one per
item. Each caller still waits for its own item to be written, and gets the exception if it was
not. When a batch fails, its items are written one by one, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
Waiting = list[tuple[T, "asyncio.Future[None]"]]


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None], *, name: str) -> None:
        self._write = write
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._queue: Waiting[T] = []
        self._writing = False

    async def submit(self, item: T) -> None:
        """Queue `item`; returns once it is written, or raises what writing it raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._queue.append((item, done))
            start, self._writing = not self._writing, True
        if start:
            self._executor.submit(self._drain)
        await done

    def close(self) -> None:
        """Finish the writes under way and stop the thread."""
        self._executor.shutdown(wait=True)

    def _drain(self) -> None:
        while batch := self._take():
            error = self._attempt([item for item, _ in batch])
            if error is None or len(batch) == 1:
                _settle(batch, error)
                continue
            for item, done in batch:
                _settle([(item, done)], self._attempt([item]))

    def _take(self) -> Waiting[T]:
        with self._lock:
            batch, self._queue = self._queue, []
            if not batch:
                self._writing = False
            return batch

    def _attempt(self, items: list[T]) -> Exception | None:
        try:
            self._write(items)
        except Exception as exc:
            return exc
        return None


def _settle(batch: Waiting[T], error: Exception | None) -> None:
    """Wake each waiter in its own event loop (one call per loop)."""
    by_loop: defaultdict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = defaultdict(list)
    for _, done in batch:
        by_loop[done.get_loop()].append(done)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there any more
            loop.call_soon_threadsafe(_resolve, futures, error)


def _resolve(futures: list[asyncio.Future[None]], error: Exception | None) -> None:
    for done in futures:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
