"""`help [command]` (only what the user may run) and `whoami`."""

from __future__ import annotations

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
        text = f"{entry.usage(slash)}\n{entry.summary}\nExample: {entry.example_text(slash)}"
        if entry not in allowed:
            text += "\n_You may not run this command: ask an administrator for access._"
        return Listing(blocks.message(text, [blocks.section(text)]), command.topic)
    lines = [f"{entry.usage(slash)}\n    {entry.summary}" for entry in allowed]
    text = "Commands you may run:\n" + "\n".join(lines)
    footer = f"Type `{slash} help <command>` for an example."
    return Listing(blocks.message(text, [blocks.section(text), blocks.note(footer)]))


async def whoami(ctx: Context, command: WhoAmI) -> Listing:
    profile = await ctx.services.authorizer.profile(ctx.user)
    lines = [f"You are <@{ctx.user}>."]
    if not profile.roles:
        lines.append("You hold no role, so you may only use `help` and `whoami`.")
    for grant in profile.roles:
        lines.append(f"• *{grant.role}*: {_grant_line(grant)}")
    if profile.channels is not None:
        lines.append(
            "Commands are accepted in " + ", ".join(f"<#{c}>" for c in profile.channels) + "."
        )
    if profile.membership_error:
        lines.append(f"_Roles from user groups are not shown: {profile.membership_error}._")
    text = "\n".join(lines)
    return Listing(blocks.message(text, [blocks.section(text)]), ctx.user)


def _grant_line(grant: RoleGrant) -> str:
    """Where each permission applies, as it is enforced: node-wide ones are never scoped (the
    policy refuses a scoped role that grants them)."""
    on_conferences = [p for p in grant.permissions if p not in NODE_WIDE]
    on_node = [p for p in grant.permissions if p in NODE_WIDE]
    parts = []
    if on_conferences:
        where = "every conference" if grant.conferences is None else ", ".join(grant.conferences)
        parts.append(f"{', '.join(f'`{p}`' for p in on_conferences)} — on {where}")
    if on_node:
        parts.append(f"{', '.join(f'`{p}`' for p in on_node)} — on the whole management node")
    return "; ".join(parts) or "nothing"
