"""A backup download off the event loop: one GET over the standard library's `http.client`,
its body received and written by one worker thread and hashed by another.

Why `http.client`: `HTTPResponse.readinto` receives straight into the caller's buffer, as a raw
socket copy does. httpx cannot: its body comes in new 64 KiB `bytes` objects, each through h11,
httpcore and anyio on the event loop, which kept the download at ~40% of a raw loopback copy
that also computes the SHA-256 (bench/README.md: the backup download).

Why two threads: receiving, writing and hashing each release the GIL, so they overlap. The
SHA-256 is the longest of the three (~0.6 s per GiB here, against ~0.25 s to receive and write
it), so it has a thread of its own and the receiving thread writes each piece while it is being
hashed; a small ring of buffers (`PIECE`, `RING`) goes round between them, so memory stays
constant. Measured on 1 GiB (bench/README.md, the backup download), the same memory state for
every copy: 0.68-0.77 s, against 0.76-0.79 s when the second thread both wrote and hashed, and
0.82-0.93 s for a raw socket copy that hashes as it goes.

The event loop only waits for the end. Between pieces the receiving thread asks the client's
`ModerationFirst.due()` (cheap) and, only when moderation is under way, waits on the loop for
it (`bot.pexip.give_way`). Cancelling the awaiting task stops both threads: a flag checked per
piece, and the connection shut down under a blocked read; the task ends once they have.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import http.client
import queue
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from bot.pexip.give_way import ModerationFirst

PIECE = 256 * 1024
"""Each buffer of the ring. Measured on a 1 GiB download (2 cores, 1 MiB L2 cache per core;
hashed socket copy: 0.93-1.01 s): a ring of 3 x 256 KiB took 0.87-0.90 s, 512 KiB 0.85-1.35 s,
1 or 2 MiB 1.6-2.3 s: larger buffers fall out of the cache between the receiving thread's write
into them and the other thread's reads. One thread receiving, writing and hashing a 256 KiB
buffer in turn took 1.10-1.15 s."""

RING = 3
"""Buffers going round: one being received and written, one hashed, one spare for jitter (8 or
16 took as long)."""

ERROR_BODY_LIMIT = 64 * 1024
"""The most of a non-2xx answer's body read, for the node's own words (`bot.pexip.answers`)."""


@dataclass(frozen=True)
class Target:
    """What to GET and how: the node's URL, the request headers (credentials among them: never
    shown), the timeout of each socket operation, and the TLS rules (`bot.pexip.tls`)."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    timeout: float
    tls: ssl.SSLContext


@dataclass(frozen=True)
class Received:
    size: int
    sha256: str


class Answered(Exception):
    """The node answered other than 2xx: its status, headers and the start of its body."""

    def __init__(self, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers
        self.body = body


class Failed(Exception):
    """The transport failed (`cause`); `connected`: after the connection was made, TLS
    included, so the request may have left."""

    def __init__(self, cause: BaseException, *, connected: bool) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause
        self.connected = connected


class _Stopped(Exception):
    """The download was cancelled: the threads end without finishing."""


async def receive(target: Target, destination: Path, moderation_first: ModerationFirst) -> Received:
    """GET `target` into the file `destination`; its size and SHA-256. Raises `Answered`,
    `Failed` or the file's `OSError`; a body shorter than its Content-Length is a `Failed`."""
    loop = asyncio.get_running_loop()
    transfer = _Transfer(target, destination, _GiveWay(moderation_first, loop))
    finished: asyncio.Future[Received] = loop.create_future()
    thread = threading.Thread(
        target=_run, args=(transfer, finished, loop), name="backup-download", daemon=True
    )
    thread.start()
    try:
        return await asyncio.shield(finished)
    except asyncio.CancelledError:
        transfer.stop()
        await _until_done(finished)
        thread.join()  # it has handed its outcome over: only its return is left
        raise


def _run(
    transfer: _Transfer, finished: asyncio.Future[Received], loop: asyncio.AbstractEventLoop
) -> None:
    def settle(outcome: Received | BaseException) -> None:
        if finished.done():
            return
        if isinstance(outcome, BaseException):
            finished.set_exception(outcome)
        else:
            finished.set_result(outcome)

    outcome: Received | BaseException
    try:
        outcome = transfer.run()
    except BaseException as exc:  # handed to the awaiting task, raised there
        outcome = exc
    with suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle, outcome)


async def _until_done(finished: asyncio.Future[Received]) -> None:
    """Wait for the stopped threads to end (promptly: their connection is shut down)."""
    while not finished.done():
        with suppress(asyncio.CancelledError):
            await asyncio.wait([finished])
    if not finished.cancelled():
        finished.exception()  # retrieved: the cancellation is what the caller sees


class _GiveWay:
    """From the receiving thread: wait on the event loop while moderation is under way."""

    def __init__(self, moderation_first: ModerationFirst, loop: asyncio.AbstractEventLoop):
        self._first = moderation_first
        self._loop = loop
        self._waiting: concurrent.futures.Future[None] | None = None

    def __call__(self) -> None:
        if not self._first.due():  # once per piece: kept cheap
            return
        self._waiting = asyncio.run_coroutine_threadsafe(self._first(), self._loop)
        try:
            self._waiting.result()
        finally:
            self._waiting = None

    def cancel(self) -> None:
        waiting = self._waiting
        if waiting is not None:
            waiting.cancel()


class _Transfer:
    """The download's work, run in its thread (`run`); `stop` from any thread."""

    def __init__(self, target: Target, destination: Path, give_way: _GiveWay) -> None:
        self._target = target
        self._destination = destination
        self._give_way = give_way
        self._stopping = threading.Event()
        self._connection = _connection(target)

    def stop(self) -> None:
        self._stopping.set()
        self._give_way.cancel()
        sock = self._connection.sock
        if sock is not None:  # a read blocked in it returns at once
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> Received:
        try:
            response = self._ask()
            with self._destination.open("wb") as out:
                return self._receive(response, out)
        finally:
            self._connection.close()

    def _ask(self) -> http.client.HTTPResponse:
        try:
            self._connection.connect()
        except OSError as exc:  # refused, unreachable, timed out, TLS
            raise self._failed(exc, connected=False) from exc
        if self._stopping.is_set():  # stopped while connecting: `stop` found no socket yet
            raise _Stopped()
        try:
            self._connection.request("GET", _path(self._target.url), headers=self._target.headers)
            response = self._connection.getresponse()
            if not 200 <= response.status < 300:
                body = response.read(ERROR_BODY_LIMIT)
                raise Answered(response.status, response.getheaders(), body)
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(exc, connected=True) from exc
        return response

    def _failed(self, exc: BaseException, *, connected: bool) -> Exception:
        return _Stopped() if self._stopping.is_set() else Failed(exc, connected=connected)

    def _receive(self, response: http.client.HTTPResponse, out: BinaryIO) -> Received:
        hasher = _Hasher()
        hasher.start()
        try:
            size = self._fill(response, out, hasher)
        finally:
            hasher.finish()
        hasher.raise_error()
        declared = response.getheader("content-length")
        if declared is not None and declared.isdigit() and int(declared) != size:
            cut = http.client.IncompleteRead(b"", int(declared) - size)
            raise self._failed(cut, connected=True)
        return Received(size=size, sha256=hasher.digest.hexdigest())

    def _fill(self, response: http.client.HTTPResponse, out: BinaryIO, hasher: _Hasher) -> int:
        """Receive the body into the ring's buffers; hand each filled one to the hasher, and
        write it to `out` meanwhile (both only read it; the hasher gives it back when done)."""
        size = 0
        while True:
            if self._stopping.is_set():
                raise _Stopped()
            self._give_way()
            buffer = hasher.free.get()
            if buffer is None:  # the hasher failed: its error is raised
                return size
            filled = self._read_into(response, buffer)
            hasher.full.put((buffer, filled))
            out.write(buffer[:filled])
            size += filled
            if filled < PIECE:
                return size

    def _read_into(self, response: http.client.HTTPResponse, buffer: memoryview) -> int:
        filled = 0
        while filled < PIECE:
            try:
                got = response.readinto(buffer[filled:])
            except (OSError, http.client.HTTPException) as exc:
                raise self._failed(exc, connected=True) from exc
            if not got:
                if self._stopping.is_set():
                    raise _Stopped()
                break
            filled += got
        return filled


class _Hasher(threading.Thread):
    """Hashes each filled piece, then gives its buffer back (`free`); `None` in `full` ends it,
    and it puts `None` in `free` if it fails."""

    def __init__(self) -> None:
        super().__init__(name="backup-download-hasher", daemon=True)
        self.digest = hashlib.sha256()
        self.free: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
        self.full: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        for _ in range(RING):
            self.free.put(memoryview(bytearray(PIECE)))

    def run(self) -> None:
        try:
            while (item := self.full.get()) is not None:
                buffer, filled = item
                self.digest.update(buffer[:filled])
                self.free.put(buffer)
        except BaseException as exc:  # raised by the receiving thread (`raise_error`)
            self._error = exc
            self.free.put(None)

    def finish(self) -> None:
        self.full.put(None)
        self.join()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error


def _connection(target: Target) -> http.client.HTTPConnection:
    parts = urlsplit(target.url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            host, parts.port, timeout=target.timeout, context=target.tls
        )
    return http.client.HTTPConnection(host, parts.port, timeout=target.timeout)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path or '/'}{'?' + parts.query if parts.query else ''}"


def node_url(base_url: str, path: str) -> str:
    """`path` under the node's address, as httpx joins a relative URL to its `base_url` (a
    path prefix in the address is kept)."""
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"
