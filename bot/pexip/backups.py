"""System backup files on the management node: list, streamed download, delete."""

from __future__ import annotations

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


async def download_backup(client: PexipClient, filename: str, destination: Path) -> DownloadedFile:
    """Stream a backup to `destination` at constant memory, hashing as it goes.

    The body is taken in the pieces it arrives in: asking httpx for fixed-size chunks makes it
    join pieces into each chunk, a copy of the whole file that cost a third of the download
    time (bench/: backup case). A body shorter than the node's Content-Length is an error and
    leaves no file behind.
    """
    operation = f"download backup {filename}"
    partial = destination.with_name(destination.name + ".part")
    digest, size = hashlib.sha256(), 0
    try:
        async with client.stream(_detail(filename), operation=operation) as response:
            expected = response.headers.get("content-length")
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        if expected is not None and int(expected) != size:
            raise errors.NoAnswer(
                f"{operation}: received {size} of {expected} bytes", operation=operation
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    return DownloadedFile(path=destination, size=size, sha256=digest.hexdigest())


async def delete_backup(client: PexipClient, filename: str) -> None:
    await client.delete(_detail(filename), operation=f"delete backup {filename}")
