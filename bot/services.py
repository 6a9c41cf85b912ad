"""What every handler needs, built once per process by `bot.app` and closed on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.auth.aliases import ConferenceAliases
from bot.auth.permissions import Authorizer
from bot.auth.teams import TeamGate
from bot.backup.gate import ManualBackups
from bot.backup.history import BackupHistory
from bot.command_queue import CommandQueue
from bot.config import BackupSettings
from bot.coordination.journal import Journal
from bot.coordination.message_edits import MessageEdits
from bot.coordination.recovery import Recovery
from bot.events.intents import Intents
from bot.events.receiver import EventInbox
from bot.events.records import LiveRecords
from bot.pexip.client import PexipClient
from bot.store.approvals import ApprovalStore
from bot.store.audit import Auditor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    """Work a serve process repeats every `seconds` while it runs (e.g. expiring approval
    requests on SQLite), given the process's Slack Web API client."""

    name: str
    seconds: float
    work: Callable[[AsyncWebClient], Awaitable[object]]


@dataclass(frozen=True)
class BackupServices:
    """Present when BACKUP_PASSPHRASE is set: `/pexip backup ...` then works."""

    settings: BackupSettings
    history: BackupHistory
    manual: ManualBackups = field(init=False)

    def __post_init__(self) -> None:
        gate = ManualBackups(self.history, self.settings.now_cooldown, self.settings.wait_seconds)
        object.__setattr__(self, "manual", gate)


@dataclass
class Services:
    """The long-lived collaborators of the Slack handlers."""

    pexip: PexipClient
    authorizer: Authorizer
    auditor: Auditor
    approvals: ApprovalStore
    slash: str = "/pexip"
    default_location: str | None = None
    license_alert_percent: int = 80
    """LICENSE_ALERT_PERCENT: `status` marks licence kinds at or above it."""
    follow_up_seconds: float = 20.0
    backup: BackupServices | None = None
    teams: TeamGate | None = None
    commands: CommandQueue = field(default_factory=CommandQueue)
    events: EventInbox | None = None  # live meetings on (PEXIP_EVENTS_* set)
    live_records: LiveRecords | None = None
    intents: Intents = field(default_factory=Intents)
    conference_aliases: ConferenceAliases = field(init=False)
    periodic: list[Periodic] = field(default_factory=list)  # run by each serve process (`bot.app`)
    shared_database: bool = False
    """DATABASE_URL is PostgreSQL: other serve and clock processes may share it (INTERFACE §10)."""
    journal: Journal | None = None
    """Acknowledged commands recorded until answered (`bot.coordination.journal`)."""
    recovery: Recovery | None = None
    """Set by the handlers: what this process does with commands of processes that stopped."""
    edits: MessageEdits | None = None
    """The messages kept up to date (lobby, roster, approvals): one edit at a time, in order,
    across processes (`bot.coordination.message_edits`)."""
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.conference_aliases = ConferenceAliases(self.pexip)

    def in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run follow-up work (e.g. watching a dialled call) after the reply; kept referenced
        so it is not garbage-collected, and logged if it fails."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    @property
    def following_up(self) -> bool:
        """Acknowledged commands, or follow-ups (e.g. a dialled call being watched), are still
        running."""
        return self.commands.busy or bool(self._tasks)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, grace: float = 5.0, commands_grace: float = 10.0) -> None:
        """On shutdown: let acknowledged commands finish, then wait briefly for follow-ups, then
        cancel the rest."""
        await self.commands.drain(commands_grace)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
