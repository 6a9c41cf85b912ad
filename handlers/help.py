"""`help [command]` (only what the user may run) and `whoami`."""

from __future__ import annotations

from pydantic import field_validator

from bot.auth.permissions import NODE_WIDE, RoleGrant
from bot.slack.mrkdwn import Mrkdwn, bold, channel, code, join, mention, render
from handlers import arguments as read
from handlers import blocks
from handlers.arguments import Args, Problem, build
from handlers.context import Context, Listing
from handlers.registry import REGISTRY, Command, Usage, command
from handlers.usage import did_you_mean, listed, show, usage_table


class Help(Command):
    """`help [command]`: the list of commands, or how to use one."""

    topic: str | None = None

    @field_validator("topic")
    @classmethod
    def _known_word(cls, topic: str | None) -> str | None:
        if topic is not None and topic not in REGISTRY.words():
            raise ValueError("not a command word")
        return topic

    def _arguments(self) -> tuple[str, ...]:
        return () if self.topic is None else (self.topic,)


class WhoAmI(Command):
    """`whoami`: who the user is to the bot and what they may do."""


def _read_help(args: Args, model: type[Help]) -> Help:
    if not args.positional:
        return model()
    token = read.single(args, "one command word")
    topic = token.text.strip().lower()
    words = REGISTRY.words()
    if topic not in words:
        known = render(" The commands are {}.", listed(words))
        sentence = render(
            "There is no command {}.{}{}", show(token.text), did_you_mean(topic, words), known
        )
        raise Problem(sentence, "help")
    return build(model, "help", topic=topic)


def _may_run(word: str, may: set[str]) -> bool:
    """Whether any form of the word is allowed (`backup`: backup now/list, or restore)."""
    return any(spec.permission is None or spec.permission in may for spec in REGISTRY.forms(word))


@command(
    Help,
    word="help",
    permission=None,
    kind="listing",
    usage=Usage("help [command]", "List the commands, or show how to use one.", "help dial"),
    grammar=_read_help,
)
async def help_text(ctx: Context, command: Help) -> Listing:
    slash = ctx.services.slash
    profile = await ctx.services.authorizer.profile(ctx.user)
    may = {permission for permission in REGISTRY.permissions() if profile.may(permission)}
    table = usage_table()
    allowed = [entry for word, entry in table.items() if _may_run(word, may)]
    if command.topic is not None:
        entry = table[command.topic]
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


@command(
    WhoAmI,
    word="whoami",
    permission=None,
    kind="listing",
    usage=Usage("whoami", "Show who you are to the bot and what you may do.", "whoami"),
    grammar=read.no_arguments,
)
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
