"""Builds the process: Settings → management client, policy, audit, Slack client, Bolt app.

Everything long-lived is made here, once, and closed by `Runtime.close()`. The Slack handlers
(`handlers/`, the layer above) are attached through the `pexbot.listeners` entry point that
pyproject.toml declares, so nothing in `bot/` imports them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.auditing import auditor as make_auditor
from bot.auth.permissions import Authorizer, load_policy
from bot.auth.teams import TeamGate
from bot.backup.history import BackupHistory
from bot.command_queue import CommandQueue
from bot.config import ConfigError, EventSettings, Settings, SlackSettings
from bot.coordination.journal import Journal
from bot.coordination.message_edits import MessageEdits
from bot.coordination.node_slots import NodeSlots, node_slots
from bot.coordination.presence import presence
from bot.coordination.sessions import is_postgres
from bot.events.intents import Intents
from bot.events.receiver import EventInbox
from bot.events.records import LiveRecords
from bot.pexip.client import PexipClient
from bot.services import BackupServices, Periodic, Services
from bot.slack.client import slack_client as make_slack_client
from bot.slack.usergroups import SlackUserGroups
from bot.store.approvals import ApprovalStore
from bot.store.audit import AuditStore
from bot.store.database import TableStore
from bot.store.once import Once

log = logging.getLogger(__name__)

LISTENERS = "pexbot.listeners"
Install = Callable[[AsyncApp, Services], None]
"""Attaches listeners to the Bolt app (`handlers.register`)."""


def installed_listeners() -> Install:
    """The Slack handlers this installation declares (entry point group `pexbot.listeners`)."""
    found = list(entry_points(group=LISTENERS))
    if len(found) != 1:
        raise ConfigError(
            f"pexbot's Slack handlers are not installed ({len(found)} `{LISTENERS}` entry "
            "points): install pexbot again, e.g. `pip install -e .`"
        )
    install: Install = found[0].load()
    return install


@dataclass
class Runtime:
    settings: Settings
    slack: SlackSettings
    services: Services
    bolt: AsyncApp
    web: AsyncWebClient
    store: AuditStore
    once: Once
    slots: NodeSlots | None = None
    _repeating: list[asyncio.Task[None]] = field(default_factory=list)
    events: EventSettings | None = None

    async def open(self) -> None:
        """Inside the event loop, before serving: one keep-alive HTTP session for every Slack
        Web API call (Bolt's per-request clients share it), instead of slack_sdk's default of a
        new session, and a new connection, per call."""
        if self.web.session is None:
            self.web.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.web.timeout),
                trust_env=self.web.trust_env_in_session,
            )
        await self._prepare()
        if not self._repeating:
            self._repeating = [
                asyncio.create_task(_repeat(job, self.web), name=job.name)
                for job in self.services.periodic
            ]
        if self.services.recovery is not None:
            # this process counts as alive from here, and finishes what stopped ones left
            await self.services.recovery.start()

    async def _prepare(self) -> None:
        """Before serving: every table made and its first database connection open, and the
        node's shared slots' sessions, so that the first requests of a new process (after a
        deploy, a restart) wait for none of it. A database that cannot be reached now is
        logged and met again, and reported, by the requests that need it."""
        stores: list[TableStore] = [self.store, self.once, self.services.approvals]
        stores += [
            store
            for store in (
                self.services.journal,
                self.services.edits,
                self.services.live_records,
                self.services.backup.history if self.services.backup is not None else None,
            )
            if store is not None
        ]
        results = await asyncio.gather(
            *(asyncio.to_thread(store.prepare) for store in stores), return_exceptions=True
        )
        for failed in results:
            if isinstance(failed, Exception):
                log.warning("at start-up: %s", failed)
        if self.slots is not None:
            await self.slots.open()
        # the sessions on the acknowledgement's path (PostgreSQL): the seen-once claim and the
        # command's record
        opening = [self.once.open_sessions()]
        if self.services.journal is not None:
            opening.append(self.services.journal.open_sessions())
        for failed in await asyncio.gather(*opening, return_exceptions=True):
            if isinstance(failed, Exception):
                log.warning("at start-up: %s", _first_line(failed))

    async def close(self) -> None:
        for task in self._repeating:
            task.cancel()
        await asyncio.gather(*self._repeating, return_exceptions=True)
        self._repeating = []
        if self.services.recovery is not None:
            await self.services.recovery.stop_watching()
        await self.services.drain()
        if self.services.events is not None:
            await self.services.events.close()
        if self.services.live_records is not None:
            await self.services.live_records.written()
            await self.services.live_records.close()
        if self.services.recovery is not None:
            # what could not be finished in time is left recorded: another process takes it
            await self.services.recovery.close()
        elif self.services.journal is not None:
            await self.services.journal.close_sessions()
            self.services.journal.close()
        if self.web.session is not None:
            await self.web.session.close()
        await self.services.pexip.close()
        if self.slots is not None:
            await self.slots.close()
        if self.services.edits is not None:
            await self.services.edits.close()
        self.store.close()
        await self.once.settled()
        await self.once.close_sessions()
        self.once.close()
        self.services.approvals.close()
        if self.services.backup is not None:
            self.services.backup.history.close()


async def _repeat(job: Periodic, web: AsyncWebClient) -> None:
    """`job` every `job.seconds` until cancelled; a failed round is logged, not fatal."""
    while True:
        await asyncio.sleep(job.seconds)
        try:
            await job.work(web)
        except Exception:
            log.exception("%s failed; trying again in %s s", job.name, job.seconds)


def slack_client(settings: Settings) -> AsyncWebClient:
    """The Slack Web API client, on SLACK_API_URL, retrying as Slack advises."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return make_slack_client(token, str(settings.slack_api_url))


def build_runtime(settings: Settings, install: Install | None = None) -> Runtime:
    """Validates everything `serve` needs first, so a bad setting stops start-up with one line.
    `install` attaches the listeners (default: the installed handlers)."""
    slack = settings.slack()
    pexip_settings = settings.pexip()
    policy = load_policy(settings.permissions_file)
    web = slack_client(settings)
    store = AuditStore(settings.database_url)
    auditor = make_auditor(settings, web, store)
    backup = None
    if settings.backup_passphrase is not None:
        backup = BackupServices(settings.backup(), BackupHistory(settings.database_url))
    slots = node_slots(settings.database_url, pexip_settings.max_concurrency)
    # PostgreSQL: acknowledged commands recorded, for another process to finish if this one
    # dies. Not on SQLite (one serve): its writes would halve the acknowledgements per second
    # there, for a command lost only if the one process dies in the middle of it.
    journal = (
        Journal(settings.database_url, presence(settings.database_url))
        if is_postgres(settings.database_url)
        else None
    )
    commands = CommandQueue()
    services = Services(
        pexip=PexipClient(
            pexip_settings,
            slots=slots,
            before_change=journal.before_change if journal is not None else None,
            moderation=commands,  # a backup download gives way to queued commands
        ),
        commands=commands,
        journal=journal,
        shared_database=is_postgres(settings.database_url),
        edits=MessageEdits(settings.database_url),
        authorizer=Authorizer(policy, SlackUserGroups(web) if policy.uses_groups else None),
        auditor=auditor,
        approvals=ApprovalStore(settings.database_url),
        slash=slack.command,
        default_location=settings.pexip_default_location,
        license_alert_percent=settings.license_alert_percent,
        backup=backup,
        teams=TeamGate(web, slack.allowed_teams),
    )
    events = settings.events()
    if events is not None:
        services.events = EventInbox()
        services.live_records = LiveRecords(settings.database_url)
        services.intents = Intents(services.live_records)
    signing = slack.signing_secret.get_secret_value() if slack.signing_secret else None
    bolt = AsyncApp(
        client=web,
        signing_secret=signing or "",
        # The door (`bot.slack.server`) checks every signature before Bolt sees a request.
        request_verification_enabled=False,
        # Answer Slack when the listener returns: every listener acks and queues its work.
        process_before_response=True,
        # What no listener takes goes to the error handler `handlers` attaches, not a 404.
        raise_error_for_unhandled_request=True,
        # Bolt's middleware for what pexbot's Slack app never receives (slack/manifest*.yaml:
        # no event subscriptions, no workflow functions, no assistant threads), each run for
        # every request otherwise: ~24 Python calls per acknowledgement (bench/README.md).
        ignoring_self_events_enabled=False,
        url_verification_enabled=False,
        attaching_function_token_enabled=False,
        attaching_conversation_kwargs_enabled=False,
    )
    (install or installed_listeners())(bolt, services)
    return Runtime(
        settings,
        slack,
        services,
        bolt,
        web,
        store,
        Once(settings.database_url, quiet=services.commands.door.quiet),
        slots=slots,
        events=events,
    )


def _first_line(exc: Exception) -> str:
    """A database error's first line (psycopg's later lines repeat the connection details)."""
    words = str(exc).strip()
    return words.splitlines()[0] if words else type(exc).__name__
