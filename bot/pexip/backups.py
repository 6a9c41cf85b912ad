"""System backup files on the management node: list, download (checked), delete."""

from __future__ import annotations

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


async def download_backup(
    client: PexipClient, filename: str, destination: Path, *, sha256: str = ""
) -> DownloadedFile:
    """Download a backup to `destination` at constant memory, hashing as it goes; `sha256`, the
    node's `sha256sum` of the file when it lists one, is checked.

    The download takes no moderation slot and gives way to lookups and commands; it is received,
    written and hashed in worker threads, off the event loop (`PexipClient.download`,
    `bot.pexip.download`). It goes to a `.part` file, renamed when complete: a body shorter than
    the node's Content-Length, a SHA-256 other than the one the node lists, or a cancelled
    download is an error (or the cancellation) and leaves no file behind.
    """
    operation = f"download backup {filename}"
    partial = destination.with_name(destination.name + ".part")
    try:
        got = await client.download(_detail(filename), partial, operation=operation)
        if sha256.strip() and sha256.strip().lower() != got.sha256:
            raise errors.UnexpectedResponse(
                f"{operation}: the file's SHA-256 is {got.sha256}, not the {sha256.strip()} the "
                "node lists for it; the file was not kept",
                operation=operation,
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)
    return DownloadedFile(path=destination, size=got.size, sha256=got.sha256)


async def delete_backup(client: PexipClient, filename: str) -> None:
    await client.delete(_detail(filename), operation=f"delete backup {filename}")
