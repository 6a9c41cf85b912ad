"""Backup files: which names are backups, what retention deletes, and the `.sha256` beside a
downloaded copy. Plain functions over file names and folders, no I/O to the node."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.pexip.backups import DownloadedFile
from bot.pexip.models import SystemBackup


def write_checksum(downloaded: DownloadedFile) -> Path:
    """`<file>.sha256` beside the file, in `sha256sum` format (`sha256sum -c` checks it)."""
    path = checksum_path(downloaded.path)
    partial = path.with_name(path.name + ".part")
    partial.write_text(f"{downloaded.sha256}  {downloaded.path.name}\n", encoding="utf-8")
    partial.replace(path)
    return path


def checksum_path(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".sha256")


def is_backup_file(name: str) -> bool:
    """Pexip backup packages only: `*.tar.gpg`, or the vendor's `pexip_backup_*.gpg`."""
    return name.endswith(".tar.gpg") or (name.startswith("pexip_backup_") and name.endswith(".gpg"))


def prune_plan(backups: Iterable[SystemBackup], keep: int, ours: str) -> list[SystemBackup]:
    """Backup files beyond the newest `keep` by date, oldest first; never `ours`, never a file
    without a date (its age is unknown)."""
    dated = [b for b in backups if b.date is not None and is_backup_file(b.filename)]
    dated.sort(key=lambda b: (b.date, b.filename), reverse=True)
    return [b for b in reversed(dated[keep:]) if b.filename != ours]


def prune_folder(folder: Path, keep: int) -> list[str]:
    """Keep the newest `keep` backup files in `folder` (by modification time, then name);
    delete the rest with their `.sha256`. Returns the deleted names, oldest first."""
    files = [p for p in folder.iterdir() if p.is_file() and is_backup_file(p.name)]
    files.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    old = list(reversed(files[keep:]))
    for path in old:
        path.unlink(missing_ok=True)
        checksum_path(path).unlink(missing_ok=True)
    return [path.name for path in old]
