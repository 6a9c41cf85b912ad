"""`help [command]` (only what the user may run) and `whoami`."""

from __future__ import annotations

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
        where = "every conference" if grant.conferences is None else ", ".join(grant.conferences)
        allowed = ", ".join(f"`{p}`" for p in grant.permissions) or "nothing"
        lines.append(f"• *{grant.role}*: {allowed} — on {where}")
    if profile.channels is not None:
        lines.append(
            "Commands are accepted in " + ", ".join(f"<#{c}>" for c in profile.channels) + "."
        )
    if profile.membership_error:
        lines.append(f"_Roles from user groups are not shown: {profile.membership_error}._")
    text = "\n".join(lines)
    return Listing(blocks.message(text, [blocks.section(text)]), ctx.user)
