"""Backup files: metadata only; their bytes are generated on demand, never held whole.

A package starts with one header line, `PEXIPSIMBACKUP <filename> <version> <build>\\n`,
followed by deterministic filler up to `size` bytes, so a download can be checked byte for byte
and a restore can tell which backup it was given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

MAGIC = b"PEXIPSIMBACKUP"
CHUNK_SIZE = 1024 * 1024
BACKUP_PREFIX = "/api/admin/configuration/v1/system_backup/"


@dataclass(frozen=True)
class Backup:
    """One backup file on the management node."""

    filename: str
    date: datetime
    version: str
    build: str
    size: int
    passphrase: str

    def header(self) -> bytes:
        """The first line of the package."""
        return b"%s %s %s %s\n" % (
            MAGIC,
            self.filename.encode(),
            self.version.encode(),
            self.build.encode(),
        )

    def to_json(self) -> dict[str, object]:
        """The configuration API's representation."""
        return {
            "filename": self.filename,
            "date": self.date.isoformat(timespec="seconds"),
            "build": self.build,
            "version": self.version,
            "size": self.size,
            "type": "",
            "sha256sum": "",
            "resource_uri": f"{BACKUP_PREFIX}{self.filename}/",
        }


def backup_filename(host: str, version: str, build: str, when: datetime) -> str:
    """The vendor's naming: `pexip_backup_<host>_<version>_<build>_<yy_mm_dd_hh_mm_ss>.tar.gpg`."""
    return f"pexip_backup_{host}_{version}_{build}_{when:%y_%m_%d_%H_%M_%S}.tar.gpg"


def iter_chunks(backup: Backup, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The package's bytes, `size` in total, in chunks of at most `chunk_size`."""
    seed = hashlib.sha256(backup.filename.encode()).digest()
    block_len = min(chunk_size, max(backup.size, 1))
    block = (seed * (block_len // len(seed) + 1))[:block_len]
    first = (backup.header() + block)[: min(block_len, backup.size)]
    remaining = backup.size - len(first)
    if first:
        yield first
    while remaining > 0:
        piece = block if remaining >= len(block) else block[:remaining]
        remaining -= len(piece)
        yield piece


def parse_header(head: bytes) -> tuple[str, str, str] | None:
    """(filename, version, build) from a package's first bytes, or None if it is not one."""
    line, newline, _ = head.partition(b"\n")
    parts = line.split(b" ")
    if not newline or len(parts) != 4 or parts[0] != MAGIC:
        return None
    try:
        filename, version, build = (part.decode("ascii") for part in parts[1:])
    except UnicodeDecodeError:
        return None
    return filename, version, build
