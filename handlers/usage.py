"""How to type each command: the one source of wording for `help` and for usage errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.mrkdwn import Mrkdwn, code, join, render
from handlers.tokens import Token

DEFAULT_SLASH = "/pexip"

DIAL_FORM = (
    "dial <conference-alias> <destination> [role=chair|guest]"
    " [protocol=sip|h323|mssip|rtmp|gms|teams] [call_type=video|video-only|audio]"
    " [location=<system location>] [node=<IP address>] [name=<display name>]"
)


@dataclass(frozen=True)
class CommandHelp:
    """One command word: the forms to type (without the slash command), what it does, and an
    example."""

    word: str
    forms: tuple[str, ...]
    summary: str
    example: str

    def usage(self, slash: str = DEFAULT_SLASH) -> Mrkdwn:
        """The forms as Slack code, e.g. "`/pexip lock <conference>`"."""
        return join(" or ", (code(f"{slash} {form}") for form in self.forms))

    def example_text(self, slash: str = DEFAULT_SLASH) -> Mrkdwn:
        """The example as Slack code, e.g. "`/pexip lock VMR_1`"."""
        return code(f"{slash} {self.example}")


_HELP = (
    CommandHelp(
        "help", ("help [command]",), "List the commands, or show how to use one.", "help dial"
    ),
    CommandHelp(
        "whoami", ("whoami",), "Show who you are to the bot and what you may do.", "whoami"
    ),
    CommandHelp("conferences", ("conferences",), "List the running conferences.", "conferences"),
    CommandHelp(
        "participants",
        ("participants <conference>",),
        "List the participants of a conference.",
        "participants VMR_1",
    ),
    CommandHelp(
        "dial",
        ("dial", DIAL_FORM),
        "Call someone into a conference; with no arguments, opens a form.",
        'dial meet@example.com alice@example.com role=chair name="Alice Parkes"',
    ),
    CommandHelp("mute", ("mute <participant>",), "Mute a participant.", 'mute "Alice Parkes"'),
    CommandHelp("unmute", ("unmute <participant>",), "Unmute a participant.", "unmute Alice"),
    CommandHelp(
        "disconnect",
        ("disconnect <participant>",),
        "Disconnect a participant from their conference.",
        "disconnect Bob in VMR_1",
    ),
    CommandHelp(
        "admit",
        ("admit <participant>",),
        "Let in a participant who is waiting to join.",
        'admit "Carol Jones"',
    ),
    CommandHelp(
        "transfer",
        ("transfer <participant> to <conference-alias> [role=chair|guest]",),
        "Move a participant to another conference.",
        "transfer Bob in VMR_1 to vmr2@meet.example.com role=chair",
    ),
    CommandHelp(
        "lock",
        ("lock <conference>",),
        "Lock a conference: new participants wait until admitted.",
        "lock VMR_1",
    ),
    CommandHelp(
        "unlock",
        ("unlock <conference>",),
        "Unlock a conference: new participants join directly.",
        "unlock VMR_1",
    ),
    CommandHelp(
        "mute-guests",
        ("mute-guests <conference>",),
        "Mute every guest in a conference.",
        "mute-guests VMR_1",
    ),
    CommandHelp(
        "unmute-guests",
        ("unmute-guests <conference>",),
        "Unmute every guest in a conference.",
        "unmute-guests VMR_1",
    ),
    CommandHelp(
        "end",
        ("end <conference>",),
        "End a conference, disconnecting everyone (asks you to confirm).",
        "end VMR_1",
    ),
    CommandHelp(
        "sync",
        ("sync <template-id>",),
        "Run the VMR sync template with this id.",
        "sync 3",
    ),
    CommandHelp(
        "backup",
        ("backup now", "backup list", "backup restore <filename>"),
        "Take a backup now, list the backups, or restore one (asks you to confirm).",
        "backup list",
    ),
)

USAGE: dict[str, CommandHelp] = {entry.word: entry for entry in _HELP}
"""Every command word, in grammar order, to how it is typed."""


def usage_hint(command: str | None, slash: str = DEFAULT_SLASH) -> Mrkdwn:
    """The sentence a usage error ends with: the right form, or where to find the list."""
    if command is None:
        return render("Type {} for the list.", code(f"{slash} help"))
    entry = USAGE[command]
    return render("Usage: {}. Example: {}.", entry.usage(slash), entry.example_text(slash))


# Echoing what the user typed, and listing choices, in usage errors.


def show(text: str, limit: int = 40) -> Mrkdwn:
    """`text` as Slack code: one line, no backticks, at most `limit` characters, literal."""
    flat = " ".join(text.split()).replace("`", "'")
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return code(flat)


def show_tokens(tokens: Sequence[Token], most: int = 4) -> Mrkdwn:
    """The first `most` tokens, shown and separated by commas."""
    shown = join(", ", (show(token.shown) for token in tokens[:most]))
    return render("{}, …", shown) if len(tokens) > most else shown


def listed(words: Iterable[str], last: str = "and") -> Mrkdwn:
    """ "`a`, `b` and `c`"."""
    quoted = [code(word) for word in words]
    if len(quoted) < 2:
        return join("", quoted)
    return render("{} {} {}", join(", ", quoted[:-1]), last, quoted[-1])


def did_you_mean(word: str, choices: Iterable[str], suffix: str = "") -> Mrkdwn:
    """ " Did you mean `x`?" for the closest of `choices`, or "" if none is close."""
    close = difflib.get_close_matches(word[:40], list(choices), n=1)
    return render(" Did you mean {}?", code(close[0] + suffix)) if close else render("")
