"""Group commit on the event loop, over one dedicated PostgreSQL session: the writes on an
acknowledgement's path (the seen-once claim, the command's record) when `DATABASE_URL` is
PostgreSQL.

    batch = LoopBatch(sessions, write, error)  # async write(session, items): one atomic statement
    await batch.submit(item)        # once `item` is written; or raises what writing raised
                                    # (a psycopg error, the server unreachable too, as error(exc))
    await batch.finish()            # the writes under way (the owner closes `sessions`)

`bot.store.group_commit` does the same in a writer thread. With four processes on two cores
(bench/README.md, `several`), handing each write to a thread and back cost 2-5 ms (the thread
waiting for the GIL, then the event loop for the thread's answer) where the round trip itself
takes a fraction of a millisecond; psycopg's async connection waits on the event loop itself.

While a batch is being written, what arrives waits for the next one: one round trip per batch.
`write` must be atomic (one statement, or a transaction): a batch that fails is written again
one item at a time, so one bad item fails alone. A session that failed is closed (`Sessions`)
and a new one opened for the next batch. Batches of different writes may share one `Sessions`
(each takes a session of its own while it writes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import psycopg

from bot.coordination.sessions import PgSession, Sessions

T = TypeVar("T")
Write = Callable[[PgSession, list[T]], Awaitable[None]]


class LoopBatch(Generic[T]):
    def __init__(
        self, sessions: Sessions, write: Write[T], error: Callable[[psycopg.Error], Exception]
    ) -> None:
        self._sessions = sessions
        self._write = write
        self._error = error
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="pexbot-loop-batch")
        await done

    async def finish(self) -> None:
        """Wait for the writes under way."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                error = await self._attempt([item for item, _ in batch])
                if error is None or len(batch) == 1:
                    _settle(batch, error)
                    continue
                for item, done in batch:
                    _settle([(item, done)], await self._attempt([item]))
        finally:
            self._writer = None

    async def _attempt(self, items: list[T]) -> Exception | None:
        try:
            async with self._sessions.session() as session:
                await self._write(session, items)
        except psycopg.Error as exc:  # the server unreachable too
            return self._error(exc)
        except Exception as exc:
            return exc
        return None


def _settle(batch: list[tuple[T, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, done in batch:
        if done.done():  # its caller went away (cancelled)
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
