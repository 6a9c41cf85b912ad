"""`backup now`, `backup list`, `backup restore <filename>`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bot.backup.gate import NotNow
from bot.backup.history import BackupRun, HistoryError
from bot.backup.job import run_backup, utc_now
from bot.backup.notify import human_size, notify, render_report
from bot.pexip import backups as node_backups
from bot.pexip import commands as pexip
from bot.pexip import status
from bot.pexip.models import SystemBackup
from bot.pexip.resolve import NoMatch
from bot.slack.mrkdwn import Mrkdwn, code, join, mention, render
from bot.slack.replies import Message
from handlers import arguments as read
from handlers import blocks
from handlers.arguments import Args, Problem, build
from handlers.commands import Value
from handlers.context import Confirm, Context, Done, Listing, Reported
from handlers.grammar import UsageError
from handlers.registry import Command, Offer, Said, Usage, command
from handlers.tokens import quote
from handlers.usage import did_you_mean, show


class BackupNow(Command):
    """`backup now`."""

    def _arguments(self) -> tuple[str, ...]:
        return ("now",)


class BackupList(Command):
    """`backup list`."""

    def _arguments(self) -> tuple[str, ...]:
        return ("list",)


class BackupRestore(Command):
    """`backup restore <filename>` (the app asks to confirm first)."""

    filename: Value

    def _arguments(self) -> tuple[str, ...]:
        return ("restore", quote(self.filename))


def _read_backup(args: Args, model: type[BackupNow]) -> BackupNow | BackupList | BackupRestore:
    """`backup now`, `backup list` or `backup restore <filename>`."""
    forms = render("`now`, `list` or `restore &lt;filename&gt;`")
    if not args.positional:
        raise Problem(render("`backup` needs {}.", forms), "backup")
    action, rest = args.positional[0].text.strip().lower(), args.positional[1:]
    if action == "restore":
        filename = read.after_keyword("backup", rest, "restore", "backup file name")
        return build(BackupRestore, "backup", filename=filename)
    simple: dict[str, type[BackupNow | BackupList]] = {"now": BackupNow, "list": BackupList}
    if action in simple:
        read.nothing(Args("backup", rest, {}), word=f"backup {action}")
        return build(simple[action], "backup")
    hint = did_you_mean(action, ("now", "list", "restore"))
    sentence = render("`backup` takes {}, not {}.{}", forms, show(args.positional[0].text), hint)
    raise Problem(sentence, "backup")


def _describe(backup: SystemBackup) -> Mrkdwn:
    taken = backup.date.strftime("%Y-%m-%d %H:%M UTC") if backup.date else "unknown date"
    found = backup.release_and_build
    version = f"version {found[0]} (build {found[1]})" if found else "unknown version"
    return render(
        "{} · {} · {} · {}", code(backup.filename), taken, version, human_size(backup.size)
    )


def _run_line(run: BackupRun) -> Mrkdwn:
    started = run.started_at.strftime("%Y-%m-%d %H:%M UTC")
    who = (
        render(" by {}", mention(run.requested_by))
        if run.requested_by
        else render(" ({})", run.trigger)
    )
    if run.outcome == "success":
        size = f" ({human_size(run.size)})" if run.size is not None else ""
        return render("{}{}: success, {}{}", started, who, code(run.filename or ""), size)
    if run.outcome == "running":
        return render("{}{}: running", started, who)
    step = f" at {run.failed_step}" if run.failed_step else ""
    return render("{}{}: failed{}: {}", started, who, step, run.reason)


def _not_configured(slash: str) -> UsageError:
    return UsageError(
        render(
            "Backups are not configured here: an administrator must set BACKUP_PASSPHRASE. "
            "Type {} for the commands.",
            code(f"{slash} help backup"),
        ),
        "backup",
    )


@command(
    BackupNow,
    word="backup",
    permission="backup",
    key="backup now",
    usage=Usage(
        "backup now",
        "Take a backup now, list the backups, or restore one (asks you to confirm).",
        "backup list",
    ),
    grammar=_read_backup,
    said=Said(
        done="started a backup of the management node", attempt="back up the management node"
    ),
    buttons=(Offer("backup_retry", "Retry now"),),
)
async def backup_now(ctx: Context, command: BackupNow) -> Done:
    """Run the nightly job now; the report goes to this channel and to BACKUP_CHANNEL."""
    services = ctx.services
    if services.backup is None:
        raise _not_configured(services.slash)
    await ctx.approval_first(ctx.attempt(command, ""), "management node")
    try:
        async with services.backup.manual.turn(utc_now):
            await ctx.replies.public(Message(ctx.done(command, "")))
            report = await run_backup(
                services.pexip,
                services.backup.settings,
                history=services.backup.history,
                trigger="manual",
                requested_by=ctx.user,
            )
    except NotNow as exc:
        words = render("{}", str(exc))  # plain words, no markup
        raise UsageError(words, "backup", "management node") from None
    text, report_blocks = render_report(report)
    channel = services.backup.settings.channel
    if channel and channel != ctx.interaction.channel_id:
        await notify(ctx.replies.client, channel, report)
    if report.outcome != "success":
        raise Reported(Message(text, report_blocks), report.reason, "management node")
    return Done(
        Message(text, report_blocks),
        report.filename or "management node",
        detail=report.filename or "",
    )


@command(
    BackupList,
    word="backup",
    permission="backup",
    kind="listing",
    key="backup list",
    usage=Usage("backup list"),
)
async def backup_list(ctx: Context, command: BackupList) -> Listing:
    files = await node_backups.list_backups(ctx.services.pexip)
    lines = [render("• {}", _describe(backup)) for backup in files[:30]] or [
        render("No backup files on the node.")
    ]
    text = render("*Backup files on the management node* (newest first)\n{}", join("\n", lines))
    sections = [blocks.section(text)]
    if ctx.services.backup is not None:
        try:
            runs = await ctx.services.backup.history.recent(10)
        except HistoryError as exc:
            run_lines = [
                render("The run history could not be read ({}, ref `{}`).", exc, ctx.reference)
            ]
        else:
            run_lines = [render("• {}", _run_line(run)) for run in runs] or [
                render("No runs recorded yet.")
            ]
        history = render("*Recent backup runs*\n{}", join("\n", run_lines))
        text = render("{}\n{}", text, history)
        sections.append(blocks.section(history))
    return Listing(blocks.message(text, sections), "backup list")


async def _version_doubt(ctx: Context, backup: SystemBackup) -> Mrkdwn | None:
    """Refuse a backup from another version; None when the versions match, else why pexbot
    cannot tell (then the user is asked to confirm explicitly instead).

    The node writes its version as `"36 (82470.0.0)"` (release and build, no `build` field);
    a backup records both apart."""
    node = await status.primary_management_node(ctx.services.pexip)
    running = node.release_and_build
    taken = backup.release_and_build
    if running is None:
        reported = render("it reports “{}”", node.version) if node.version else "it reports none"
        return render("pexbot could not read the management node's software version ({})", reported)
    if taken is None:
        return render("pexbot could not tell which software version this backup was taken on")
    if taken != running:
        raise UsageError(
            render(
                "{} was taken on version {} (build {}) but the node runs version {} (build {}); "
                "Pexip only restores a backup onto the version it was taken on. "
                "Pick another with {}.",
                code(backup.filename),
                taken[0],
                taken[1],
                running[0],
                running[1],
                code(f"{ctx.services.slash} backup list"),
            ),
            "backup",
            backup.filename,
        )
    return None


@command(
    BackupRestore,
    word="backup",
    permission="restore",
    key="backup restore",
    usage=Usage("backup restore <filename>"),
    said=Said(
        done="restored the management node from {target}",
        attempt="restore the management node from {target}",
    ),
    confirm=True,
)
async def backup_restore(ctx: Context, command: BackupRestore) -> Done | Confirm:
    """Same version only (the vendor restores onto the version the backup came from)."""
    services = ctx.services
    if services.backup is None:
        raise _not_configured(services.slash)
    files = {backup.filename: backup for backup in await node_backups.list_backups(services.pexip)}
    backup = files.get(command.filename)
    if backup is None:
        raise NoMatch(
            f"no backup file named {command.filename} on the management node", "backup list"
        )
    unchecked = await _version_doubt(ctx, backup)
    if not ctx.confirmed:
        question = render(
            "Restore the management node from {}? Its configuration is replaced by the backup's.",
            _describe(backup),
        )
        go = "Restore"
        if unchecked:
            question = render(
                ":warning: {}, so it cannot check that this backup matches it "
                "(Pexip restores a backup only onto the exact version it was taken on). "
                "{} Go ahead only if you know the versions match.",
                unchecked,
                question,
            )
            go = "Restore anyway"
        return Confirm(blocks.confirmation(question, command, go), backup.filename)
    await ctx.approval_first(ctx.attempt(command, backup.filename), backup.filename)
    with tempfile.TemporaryDirectory(prefix="pexbot-restore-") as folder:
        package = Path(folder) / "package.tar.gpg"
        await node_backups.download_backup(
            services.pexip, backup.filename, package, sha256=backup.sha256sum
        )
        await ctx.send(
            pexip.BackupRestore(passphrase=services.backup.settings.passphrase, package=package),
            ctx.attempt(command, backup.filename),
            backup.filename,
        )
    return Done(Message(ctx.done(command, backup.filename)), backup.filename)
