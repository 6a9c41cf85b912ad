"""The management node's backup files: creation (after a delay), listing, deletion and the
checks a restore makes. Only metadata is kept; see `backups` for the bytes."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import timedelta

from .backups import Backup, backup_filename, parse_header
from .errors import ApiError
from .models import Settings, utc


class BackupStore:
    """Backups on one node; `settings` gives its hostname, version, build and delays."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float],
        seeded: list[Backup],
        default_passphrase: str,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._default_passphrase = default_passphrase
        self._files = {b.filename: b for b in seeded}
        self._known = dict(self._files)  # every package this node ever wrote, for restores
        self._pending: list[tuple[float, str]] = []

    def files(self) -> list[Backup]:
        """The backup files, oldest first."""
        self._advance()
        return sorted(self._files.values(), key=lambda b: (b.date, b.filename))

    def create(self, passphrase: str) -> None:
        """Start a backup; its file appears `backup_delay` seconds later."""
        self._advance()
        self._pending.append((self._clock() + self._settings.backup_delay, passphrase))

    def add(
        self,
        size: int,
        *,
        version: str | None = None,
        build: str | None = None,
        passphrase: str | None = None,
        when: float | None = None,
    ) -> Backup:
        """Add a finished backup file at once (control API); defaults: the node's version, the
        seed passphrase, now."""
        self._advance()
        return self._store(
            when if when is not None else self._clock(),
            passphrase if passphrase is not None else self._default_passphrase,
            size=size,
            version=version or self._settings.version,
            build=build or self._settings.build,
        )

    def delete(self, filename: str) -> bool:
        self._advance()
        return self._files.pop(filename, None) is not None

    def check_restore(self, head: bytes, size: int, passphrase: str) -> Backup:
        """The backup an uploaded package holds, if this node can restore it; else ApiError."""
        ident = parse_header(head)
        known = self._known.get(ident[0]) if ident else None
        if known is None or ident != (known.filename, known.version, known.build):
            raise ApiError.general("The uploaded file is not a Pexip Infinity backup package.")
        if not hmac.compare_digest(passphrase.encode(), known.passphrase.encode()):
            raise ApiError.general("Failed to decrypt the backup package: wrong passphrase.")
        if size != known.size:
            raise ApiError.general("The backup package is corrupt (truncated or modified).")
        running = (self._settings.version, self._settings.build)
        if (known.version, known.build) != running:
            raise ApiError.general(
                f"This backup was taken on version {known.version} (build {known.build}); it "
                f"can only be restored on exactly that version, not {running[0]} "
                f"(build {running[1]})."
            )
        return known

    def _advance(self) -> None:
        now = self._clock()
        due = [item for item in self._pending if item[0] <= now]
        self._pending = [item for item in self._pending if item[0] > now]
        for ready_at, passphrase in due:
            self._store(
                ready_at,
                passphrase,
                size=self._settings.backup_size,
                version=self._settings.version,
                build=self._settings.build,
            )

    def _store(
        self, when: float, passphrase: str, *, size: int, version: str, build: str
    ) -> Backup:
        date = utc(when).replace(microsecond=0)
        host = self._settings.hostname
        while backup_filename(host, version, build, date) in self._known:
            date += timedelta(seconds=1)  # one file per second, as the names allow
        backup = Backup(
            backup_filename(host, version, build, date), date, version, build, size, passphrase
        )
        self._files[backup.filename] = self._known[backup.filename] = backup
        return backup
