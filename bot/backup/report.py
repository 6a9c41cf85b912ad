"""What one backup run did (`BackupReport`): written by the job, recorded by the history, told
by the notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

Trigger = Literal["schedule", "manual", "cli"]
Step = Literal["create", "wait", "download", "prune"]


@dataclass(frozen=True)
class StoredAt:
    """Where the new backup is: the management node (host name) and, if downloaded, our copy."""

    node: str
    local_path: Path | None = None


@dataclass(frozen=True)
class BackupReport:
    """What one run did; `reason` is a sentence for people (empty on success)."""

    outcome: Literal["success", "failure"]
    trigger: Trigger
    started_at: datetime
    finished_at: datetime
    failed_step: Step | None = None
    reason: str = ""
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    stored_at: StoredAt | None = None
    pruned_node: tuple[str, ...] = ()
    pruned_local: tuple[str, ...] = ()
    scheduled_for: datetime | None = None
    """In BACKUP_TIMEZONE."""
    late_by: timedelta | None = None
    requested_by: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"

    @property
    def duration(self) -> timedelta:
        return self.finished_at - self.started_at
