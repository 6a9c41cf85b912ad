"""System backup files on the management node: list, streamed download, delete."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bot.pexip import errors
from bot.pexip.client import PexipClient
from bot.pexip.models import SystemBackup

BACKUPS = "/api/admin/configuration/v1/system_backup/"


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    size: int
    sha256: str


def _detail(filename: str) -> str:
    return f"{BACKUPS}{quote(filename, safe='')}/"


async def list_backups(client: PexipClient) -> list[SystemBackup]:
    """Backup files on the node, newest first."""
    found = await client.get_all(BACKUPS, SystemBackup, operation="list backups")
    return sorted(found, key=lambda backup: (backup.date is not None, backup.date), reverse=True)


class _Sink:
    """Writes and hashes a file in a worker thread, one batch behind the network.

    The event loop only gathers the pieces the body arrives in; while it gathers the next
    batch, a thread writes and hashes the previous one (hashlib and file writes release the
    GIL), so the loop is never held for more than a piece's worth of work, and at most two
    batches are in memory.
    """

    BATCH = 4 * 1024 * 1024

    def __init__(self, path: Path) -> None:
        self._out = path.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self._pending: asyncio.Future[None] | None = None

    def _write(self, batch: list[bytes]) -> None:
        # one write and one update per batch: each is a GIL hand-off back to the event loop
        data = b"".join(batch)
        self._out.write(data)
        self.digest.update(data)

    async def put(self, batch: list[bytes]) -> None:
        await self.flush()
        self.size += sum(len(piece) for piece in batch)
        self._pending = asyncio.ensure_future(asyncio.to_thread(self._write, batch))

    async def flush(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            await asyncio.to_thread(self._out.close)


async def download_backup(
    client: PexipClient, filename: str, destination: Path, *, sha256: str = ""
) -> DownloadedFile:
    """Stream a backup to `destination` at constant memory, hashing as it goes; `sha256`, the
    node's `sha256sum` of the file when it lists one, is checked.

    The download takes no moderation slot (`PexipClient.stream`) and gives way to lookups and
    commands (`PexipClient.moderation_first`); the file is written and hashed off the event loop
    (`_Sink`). The body is taken in the pieces it arrives in: asking httpx for fixed-size chunks
    makes it join pieces into each chunk, a copy of the whole file that cost a third of the
    download time (bench/: backup case). A body shorter than the node's Content-Length, or whose
    SHA-256 is not the one the node lists, is an error and leaves no file behind.
    """
    operation = f"download backup {filename}"
    partial = destination.with_name(destination.name + ".part")
    try:
        async with client.stream(_detail(filename), operation=operation) as response:
            expected = response.headers.get("content-length")
            sink = _Sink(partial)
            try:
                batch: list[bytes] = []
                gathered = 0
                async for chunk in response.aiter_bytes():
                    await client.moderation_first()
                    batch.append(chunk)
                    gathered += len(chunk)
                    if gathered >= _Sink.BATCH:
                        await sink.put(batch)
                        batch, gathered = [], 0
                if batch:
                    await sink.put(batch)
            finally:
                await sink.close()
        if expected is not None and int(expected) != sink.size:
            raise errors.NoAnswer(
                f"{operation}: received {sink.size} of {expected} bytes", operation=operation
            )
        got = sink.digest.hexdigest()
        if sha256.strip() and sha256.strip().lower() != got:
            raise errors.UnexpectedResponse(
                f"{operation}: the file's SHA-256 is {got}, not the {sha256.strip()} the node "
                "lists for it; the file was not kept",
                operation=operation,
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    return DownloadedFile(path=destination, size=sink.size, sha256=got)


async def delete_backup(client: PexipClient, filename: str) -> None:
    await client.delete(_detail(filename), operation=f"delete backup {filename}")
