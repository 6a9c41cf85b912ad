"""`pexbot check`: is this deployment ready to serve? One line per check, ✔ or ✘ and why.

The checks, in order; each is a small function returning a `CheckResult`:

    configuration     the variables `serve` needs (all missing ones named) and the Slack mode
    permissions file  PERMISSIONS_FILE loads; how many roles and assignments
    database          DATABASE_URL answers and the audit table exists (created if not)
    management node   reachable, certificate trusted, credentials accepted; version, conferences
    Slack             `auth.test` with SLACK_BOT_TOKEN; team, bot user, granted scopes; in
                      Socket Mode, `apps.connections.open` with SLACK_APP_TOKEN
    backups           only if configured: schedule, next run, download folder
    health alerts     only with OPS_CHANNEL: the channel, how often the clock polls, the alert share
    clock             which `pexbot clock` acts (PostgreSQL: the leader, and how many wait)

A check that needs something an earlier one found broken is shown as skipped, with why. The
database, node and Slack checks run concurrently in one event loop. Nothing here prints a
secret: messages are built from names, never values, and the one foreign text that could carry
one (a database driver's error) is scrubbed.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
import psycopg
from rich.console import Console
from rich.markup import escape
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.auth.policy import load_policy
from bot.backup.cron import cron_trigger
from bot.config import (
    ConfigError,
    PexipSettings,
    Settings,
    SlackSettings,
    transport_warnings,
)
from bot.coordination.leader import describe_leader
from bot.coordination.sessions import is_postgres
from bot.messages import read_failed
from bot.pexip import errors, event_sinks, status
from bot.pexip.client import PexipClient, RetryPolicy
from bot.store.audit import AuditError, AuditStore, Scrubber

log = logging.getLogger(__name__)

T = TypeVar("T")

# The bot token scopes pexbot uses. slack/manifest*.yaml list exactly these: tests/test_manifest.py.
REQUIRED_SCOPES: frozenset[str] = frozenset(
    {
        "commands",  # the /pexip slash command (and the interactivity that comes with it)
        "chat:write",  # outcomes, listings, ephemeral replies, AUDIT_CHANNEL, BACKUP_CHANNEL
        "usergroups:read",  # "@team" / S… entries in the permissions file
        "users:read",  # looking people up (users.info), e.g. to show their names
    }
)

CONFIGURATION = "configuration"
PERMISSIONS = "permissions file"
DATABASE = "database"
NODE = "management node"
SLACK = "Slack"
BACKUPS = "backups"
HEALTH = "health alerts"
EVENTS = "event sink"
CLOCK = "clock"

_CONFIG_INVALID = "configuration invalid"
_SLACK_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked"}


@dataclass(frozen=True)
class CheckResult:
    """One line of the report; `warnings` are shown under a passing line (e.g. TLS off)."""

    name: str
    ok: bool
    detail: str
    warnings: tuple[str, ...] = field(default=())

    @classmethod
    def passed(cls, name: str, detail: str, warnings: Iterable[str] = ()) -> CheckResult:
        return cls(name, True, detail, tuple(warnings))

    @classmethod
    def failed(cls, name: str, detail: str) -> CheckResult:
        return cls(name, False, detail)

    @classmethod
    def skipped(cls, name: str, why: str) -> CheckResult:
        return cls(name, False, f"skipped ({why})")


@dataclass(frozen=True)
class _Loaded:
    """What the configuration check found: each part is None when it cannot be used."""

    result: CheckResult
    settings: Settings | None = None
    pexip: PexipSettings | None = None
    slack: SlackSettings | None = None


def run_check(
    settings_loader: Callable[[], Settings] = Settings.load,
    console: Console | None = None,
) -> int:
    """Run every check, print one line each; 0 only if all pass."""
    console = console or Console()
    results = collect(settings_loader, console)
    render(results, console)
    return 0 if all(result.ok for result in results) else 1


def collect(settings_loader: Callable[[], Settings], console: Console) -> list[CheckResult]:
    loaded = check_configuration(settings_loader)
    settings = loaded.settings
    if settings is None:
        later = (PERMISSIONS, DATABASE, NODE, SLACK, BACKUPS, CLOCK)
        return [loaded.result, *(CheckResult.skipped(name, _CONFIG_INVALID) for name in later)]
    permissions = _guarded(PERMISSIONS, lambda: check_permissions(settings))
    with console.status("Checking the database, the management node and Slack…"):
        remote = asyncio.run(_remote_checks(loaded, settings))
    backups = _guarded(BACKUPS, lambda: check_backups(settings))
    health = [check_health(settings)] if settings.ops_channel else []
    database = remote[0]
    if database.ok:
        clock = asyncio.run(_guarded_async(CLOCK, check_clock(settings.database_url)))
    else:
        clock = CheckResult.skipped(CLOCK, "the database failed")
    return [loaded.result, permissions, *remote, backups, *health, clock]


def render(results: Sequence[CheckResult], console: Console) -> None:
    for result in results:
        mark = "[green]✔[/]" if result.ok else "[red]✘[/]"
        _print(console, f"{mark} [bold]{escape(result.name)}[/]: {escape(result.detail)}")
        for warning in result.warnings:
            _print(console, f"  [yellow]⚠[/] {escape(result.name)}: {escape(warning)}")
    failed = sum(not result.ok for result in results)
    summary = (
        "[green]All checks passed.[/]"
        if not failed
        else f"[red]{failed} of {len(results)} checks failed.[/]"
    )
    _print(console, summary)


def _print(console: Console, text: str) -> None:
    console.print(text, soft_wrap=True, highlight=False, emoji=False)


# --- 1. configuration ----------------------------------------------------------------------


def check_configuration(settings_loader: Callable[[], Settings]) -> _Loaded:
    try:
        settings = settings_loader()
    except ConfigError as exc:
        return _Loaded(CheckResult.failed(CONFIGURATION, str(exc)))
    pexip, pexip_problem = _part(settings.pexip)
    slack, slack_problem = _part(settings.slack)
    problems = [problem for problem in (pexip_problem, slack_problem) if problem]
    if problems:
        result = CheckResult.failed(CONFIGURATION, "; ".join(problems))
    else:
        result = CheckResult.passed(CONFIGURATION, f"complete; {_mode(settings)}")
    return _Loaded(result, settings, pexip, slack)


def _part(read: Callable[[], T]) -> tuple[T | None, str | None]:
    try:
        return read(), None
    except ConfigError as exc:
        return None, str(exc)


def _mode(settings: Settings) -> str:
    if settings.slack_app_token is None:
        return f"HTTP mode on PORT {settings.port} (SLACK_SIGNING_SECRET)"
    if settings.slack_signing_secret is not None:
        return "Socket Mode (SLACK_APP_TOKEN; SLACK_SIGNING_SECRET is not used)"
    return "Socket Mode (SLACK_APP_TOKEN)"


# --- 2. permissions file -------------------------------------------------------------------


def check_permissions(settings: Settings) -> CheckResult:
    path = settings.permissions_file
    try:
        policy = load_policy(path)
    except ConfigError as exc:
        return CheckResult.failed(PERMISSIONS, str(exc))
    members = sum(len(members) for members in policy.assign.values())
    where = "any channel" if policy.channels is None else _count(len(policy.channels), "channel")
    detail = (
        f"{path}: {_count(len(policy.roles), 'role')}, {_count(members, 'assignment')}; "
        f"commands accepted in {where}"
    )
    warnings = ["nobody is assigned a role: only help and whoami will work"] if not members else []
    return CheckResult.passed(PERMISSIONS, detail, warnings)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# --- 3-5. database, management node, Slack: concurrently, in one event loop ----------------


async def _remote_checks(loaded: _Loaded, settings: Settings) -> list[CheckResult]:
    node = check_node(loaded.pexip) if loaded.pexip else None
    slack = check_slack(loaded.slack) if loaded.slack else None
    checks = [
        _guarded_async(DATABASE, check_database(settings.database_url)),
        _guarded_async(NODE, node),
        _guarded_async(SLACK, slack),
    ]
    if settings.pexip_events_username or settings.pexip_events_password:  # live events on
        sink = check_event_sink(settings, loaded.pexip) if loaded.pexip else None
        checks.append(_guarded_async(EVENTS, sink))
    return list(await asyncio.gather(*checks))


async def check_database(url: str) -> CheckResult:
    scrub = Scrubber([_database_password(url)]).text
    try:
        store = AuditStore(url)
    except ConfigError as exc:
        return CheckResult.failed(DATABASE, scrub(str(exc)))
    try:
        await store.recent(limit=1)
    except (AuditError, OSError) as exc:
        return CheckResult.failed(DATABASE, scrub(str(exc)))
    finally:
        store.close()
    return CheckResult.passed(DATABASE, f"{store.url}: connected, audit log table ready")


def _database_password(url: str) -> str | None:
    try:
        return make_url(url).password
    except ArgumentError:
        return None


async def check_node(pexip: PexipSettings) -> CheckResult:
    url = pexip.manager_url
    try:
        async with PexipClient(pexip, retry=RetryPolicy(attempts=1)) as client:
            node = await status.primary_management_node(client)
            running = await status.running_conferences(client)
    except errors.PexipError as exc:
        return CheckResult.failed(NODE, f"{url}: {read_failed(exc)}")
    except OSError as exc:  # the CA bundle could not be loaded as PEM
        return CheckResult.failed(NODE, f"PEXIP_CA_BUNDLE {pexip.ca_bundle}: not usable ({exc})")
    detail = (
        f"{url}: Pexip Infinity {node.version or 'of unknown version'}, API account "
        f"{pexip.username} "
        f"accepted, {_count(len(running), 'conference')} running"
    )
    return CheckResult.passed(NODE, detail, transport_warnings(pexip))


async def check_event_sink(settings: Settings, pexip: PexipSettings) -> CheckResult:
    """Whether the node has an event sink pointing at PUBLIC_URL/pexip/events, and where."""
    if settings.public_url is None:
        return CheckResult.failed(
            EVENTS, "PUBLIC_URL is not set: the node cannot be told where to send events"
        )
    url = event_sinks.events_url(str(settings.public_url))
    try:
        async with PexipClient(pexip, retry=RetryPolicy(attempts=1)) as client:
            sink, where = await event_sinks.attached_to(client, url)
    except errors.PexipError as exc:
        return CheckResult.failed(EVENTS, read_failed(exc))
    if sink is None:
        return CheckResult.failed(
            EVENTS, f"no event sink on the node posts to {url}: run `pexbot events register`"
        )
    if not where:
        return CheckResult.failed(
            EVENTS,
            f"the event sink {sink.name} posts to {url} but no system location uses it: "
            "run `pexbot events register`",
        )
    return CheckResult.passed(EVENTS, f"{sink.name} posts to {url}, attached to {', '.join(where)}")


async def check_slack(slack: SlackSettings) -> CheckResult:
    problem = _token_shape_problem(slack)
    if problem:
        return CheckResult.failed(SLACK, problem)
    client = AsyncWebClient(
        token=slack.bot_token.get_secret_value(), base_url=slack.api_url, timeout=10
    )
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        return CheckResult.failed(SLACK, _slack_refusal(slack, exc))
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        return CheckResult.failed(SLACK, f"{slack.api_url}: not reachable ({type(exc).__name__})")
    result = _slack_result(slack, response.data, response.headers)
    if not result.ok or slack.app_token is None:
        return result
    problem = await _app_token_problem(slack, slack.app_token.get_secret_value())
    return CheckResult.failed(SLACK, problem) if problem else result


async def _app_token_problem(slack: SlackSettings, app_token: str) -> str | None:
    """Socket Mode: does Slack open a link with SLACK_APP_TOKEN? (The URL it hands out is
    single-use and expires unused: asking for one changes nothing.)"""
    from bot.slack.socket_mode import REFUSED_TOKEN

    client = AsyncWebClient(base_url=slack.api_url, timeout=10, retry_handlers=[])
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        if code in REFUSED_TOKEN:
            return (
                f"Slack refused SLACK_APP_TOKEN ({code}): create an app-level token with "
                "connections:write under Basic Information → App-Level Tokens"
            )
        return f"{slack.api_url}: apps.connections.open failed ({code}) for SLACK_APP_TOKEN"
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        return f"{slack.api_url}: not reachable ({type(exc).__name__})"
    return None


def _token_shape_problem(slack: SlackSettings) -> str | None:
    if not slack.bot_token.get_secret_value().startswith("xoxb-"):
        return "SLACK_BOT_TOKEN is not a bot token: use the Bot User OAuth Token (xoxb-…)"
    app_token = slack.app_token.get_secret_value() if slack.app_token else None
    if app_token is not None and not app_token.startswith("xapp-"):
        return "SLACK_APP_TOKEN is not an app-level token (xapp-…, with connections:write)"
    return None


def _slack_refusal(slack: SlackSettings, exc: SlackApiError) -> str:
    code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    if code in _SLACK_AUTH_ERRORS:
        return (
            f"Slack refused SLACK_BOT_TOKEN ({code}): copy the Bot User OAuth Token from "
            "the app's OAuth & Permissions page"
        )
    return f"{slack.api_url}: auth.test failed ({code})"


def _slack_result(slack: SlackSettings, data: Any, headers: Mapping[str, Any]) -> CheckResult:
    reply = data if isinstance(data, dict) else {}
    who = (
        f"workspace {reply.get('team')} ({reply.get('team_id')}) "
        f"as @{reply.get('user')} ({reply.get('user_id')})"
    )
    granted = _granted_scopes(headers)
    mode = "Socket Mode (SLACK_APP_TOKEN accepted)" if slack.socket_mode else "HTTP mode"
    if granted is None:
        warning = "Slack did not report the token's scopes (x-oauth-scopes); not compared"
        return CheckResult.passed(SLACK, f"{who}; {mode}", [warning])
    missing = sorted(REQUIRED_SCOPES - granted)
    if missing:
        return CheckResult.failed(
            SLACK,
            f"{who}, but the bot token lacks the scopes {', '.join(missing)}: add them under "
            "OAuth & Permissions (or recreate the app from slack/manifest.yaml) and reinstall",
        )
    return CheckResult.passed(SLACK, f"{who}; all {len(REQUIRED_SCOPES)} scopes granted; {mode}")


def _granted_scopes(headers: Mapping[str, Any]) -> frozenset[str] | None:
    for name, value in headers.items():
        if str(name).lower() == "x-oauth-scopes":
            return frozenset(scope.strip() for scope in str(value).split(",") if scope.strip())
    return None


# --- 6. backups ----------------------------------------------------------------------------


def check_backups(settings: Settings, now: datetime | None = None) -> CheckResult:
    if settings.backup_passphrase is None and settings.backup_channel is None:
        return CheckResult.passed(
            BACKUPS, "not configured (set BACKUP_PASSPHRASE and BACKUP_CHANNEL to enable them)"
        )
    problems = _backup_setting_problems(settings)
    try:
        when = next_backup(settings.backup_schedule, settings.backup_timezone, now)
    except ValueError as exc:
        problems.append(f"BACKUP_SCHEDULE '{settings.backup_schedule}' is not valid: {exc}")
        return CheckResult.failed(BACKUPS, "; ".join(problems))
    if problems:
        return CheckResult.failed(BACKUPS, "; ".join(problems))
    return CheckResult.passed(BACKUPS, _backup_detail(settings, when))


def check_health(settings: Settings) -> CheckResult:
    """The health poll (only shown with OPS_CHANNEL set): where, how often, from which process."""
    return CheckResult.passed(
        HEALTH,
        f"pexbot clock reads alarms, licences and conferencing nodes every "
        f"{settings.health_poll_seconds} s and posts changes to {settings.ops_channel}; "
        f"licences alert at {settings.license_alert_percent}%",
    )


def next_backup(schedule: str, timezone: str, now: datetime | None = None) -> datetime:
    """When the clock will next run the backup, in `timezone`; ValueError if it never will."""
    zone = ZoneInfo(timezone)
    trigger = cron_trigger(schedule, timezone)
    when: datetime | None = trigger.get_next_fire_time(None, now or datetime.now(zone))
    if when is None:
        raise ValueError("it never fires")
    return when.astimezone(zone)


def _backup_setting_problems(settings: Settings) -> list[str]:
    problems = []
    if settings.backup_passphrase is None:
        problems.append("BACKUP_PASSPHRASE must be set to make backups")
    if settings.backup_channel is None:
        problems.append("BACKUP_CHANNEL must be set for `pexbot clock` to report backups")
    if settings.backup_download_dir is not None:
        problems.extend(_download_dir_problems(settings.backup_download_dir))
    return problems


def _download_dir_problems(folder: Path) -> list[str]:
    if not folder.is_dir():
        return [f"BACKUP_DOWNLOAD_DIR {folder}: no such folder"]
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return [f"BACKUP_DOWNLOAD_DIR {folder}: cannot write there ({exc.strerror or exc})"]
    return []


def _backup_detail(settings: Settings, when: datetime) -> str:
    detail = (
        f"next run {when:%Y-%m-%d %H:%M %Z} ({settings.backup_timezone}, "
        f"'{settings.backup_schedule}'), notifying {settings.backup_channel}, "
        f"keeping {settings.backup_keep}"
    )
    if settings.backup_download_dir is not None:
        detail += f", downloading to {settings.backup_download_dir}"
    return detail


# --- 7. clock ------------------------------------------------------------------------------


async def check_clock(url: str) -> CheckResult:
    """Which clock acts: on PostgreSQL the holder of the leader lock (INTERFACE 10)."""
    if not is_postgres(url):
        return CheckResult.passed(
            CLOCK, "SQLite: one pexbot clock on this machine (PostgreSQL lets several take turns)"
        )
    scrub = Scrubber([_database_password(url)]).text
    try:
        info = await describe_leader(url)
    except psycopg.Error as exc:
        return CheckResult.failed(CLOCK, scrub(f"cannot read which clock leads: {exc}"))
    if info.name is None:
        return CheckResult.passed(
            CLOCK,
            "no pexbot clock is running on this database",
            ["scheduled backups run only while a pexbot clock runs"],
        )
    since = f" since {info.since:%Y-%m-%d %H:%M:%S %Z}" if info.since else ""
    waiting = f"; {_count(info.waiting, 'more clock')} waiting to take over" if info.waiting else ""
    return CheckResult.passed(CLOCK, f"{info.name} leads{since}{waiting}")


# --- no traceback, ever --------------------------------------------------------------------


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except Exception as exc:  # a bug in a check must still give the operator a line
        return _unexpected(name, exc)


async def _guarded_async(name: str, check: Awaitable[CheckResult] | None) -> CheckResult:
    if check is None:
        return CheckResult.skipped(name, _CONFIG_INVALID)
    try:
        return await check
    except Exception as exc:
        return _unexpected(name, exc)


def _unexpected(name: str, exc: Exception) -> CheckResult:
    log.debug("check %s failed unexpectedly", name, exc_info=exc)
    return CheckResult.failed(name, f"unexpected error ({type(exc).__name__}); please report it")
