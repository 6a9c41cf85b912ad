"""How to type each command, read from the declarations (`handlers.registry`): the one source
of wording for `help` and for usage errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.slack.mrkdwn import Mrkdwn, code, join, render
from handlers.registry import REGISTRY
from handlers.tokens import Token

DEFAULT_SLASH = "/pexip"


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


def usage_table() -> dict[str, CommandHelp]:
    """Every typed command word, in declaration order, to how it is typed: the forms of all its
    declared commands, and the summary and example of the first."""
    table = {}
    for word in REGISTRY.words():
        forms = REGISTRY.forms(word)
        first = forms[0].usage
        assert first is not None
        usages = tuple(spec.usage.form for spec in forms if spec.usage is not None)
        table[word] = CommandHelp(word, usages, first.summary, first.example)
    return table


def usage_hint(command: str | None, slash: str = DEFAULT_SLASH) -> Mrkdwn:
    """The sentence a usage error ends with: the right form, or where to find the list."""
    if command is None:
        return render("Type {} for the list.", code(f"{slash} help"))
    entry = usage_table()[command]
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
