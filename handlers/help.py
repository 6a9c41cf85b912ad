"""`help [command]` (only what the user may run) and `whoami`."""

from __future__ import annotations

from bot.mrkdwn import Mrkdwn, bold, channel, code, join, mention, render
from bot.permissions import NODE_WIDE, RoleGrant
from handlers import blocks
from handlers.commands import Help, WhoAmI
from handlers.context import Context, Listing
from handlers.usage import USAGE

# `backup` is one grammar word but two permissions: backup (now, list) and restore.
_NEEDS = {"backup": ("backup", "restore")}


async def help_text(ctx: Context, command: Help) -> Listing:
    slash = ctx.services.slash
    profile = await ctx.services.authorizer.profile(ctx.user)
    allowed = [
        entry
        for word, entry in USAGE.items()
        if any(profile.may(permission) for permission in _NEEDS.get(word, (word,)))
    ]
    if command.topic is not None:
        entry = USAGE[command.topic]
        text = render(
            "{}\n{}\nExample: {}", entry.usage(slash), entry.summary, entry.example_text(slash)
        )
        if entry not in allowed:
            text = render(
                "{}\n_You may not run this command: ask an administrator for access._", text
            )
        return Listing(blocks.message(text, [blocks.section(text)]), command.topic)
    lines = [render("{}\n    {}", entry.usage(slash), entry.summary) for entry in allowed]
    text = render("Commands you may run:\n{}", join("\n", lines))
    footer = render("Type {} for an example.", code(f"{slash} help <command>"))
    return Listing(blocks.message(text, [blocks.section(text), blocks.note(footer)]))


async def whoami(ctx: Context, command: WhoAmI) -> Listing:
    profile = await ctx.services.authorizer.profile(ctx.user)
    lines: list[Mrkdwn] = [render("You are {}.", mention(ctx.user))]
    if not profile.roles:
        lines.append(render("You hold no role, so you may only use `help` and `whoami`."))
    for grant in profile.roles:
        lines.append(render("• {}: {}", bold(grant.role), _grant_line(grant)))
    if profile.channels is not None:
        places = join(", ", (channel(c) for c in profile.channels))
        lines.append(render("Commands are accepted in {}.", places))
    if profile.membership_error:
        error = profile.membership_error
        lines.append(render("_Roles from user groups are not shown: {}._", error))
    text = join("\n", lines)
    return Listing(blocks.message(text, [blocks.section(text)]), ctx.user)


def _grant_line(grant: RoleGrant) -> Mrkdwn:
    """Where each permission applies, as it is enforced: node-wide ones are never scoped (the
    policy refuses a scoped role that grants them)."""
    on_conferences = [p for p in grant.permissions if p not in NODE_WIDE]
    on_node = [p for p in grant.permissions if p in NODE_WIDE]
    parts: list[Mrkdwn] = []
    if on_conferences:
        where = (
            render("every conference")
            if grant.conferences is None
            else join(", ", (code(pattern) for pattern in grant.conferences))
        )
        parts.append(render("{} — on {}", join(", ", map(code, on_conferences)), where))
    if on_node:
        node = join(", ", map(code, on_node))
        parts.append(render("{} — on the whole management node", node))
    return join("; ", parts) or render("nothing")
