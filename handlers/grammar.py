"""Slash-command text → a typed command, or a `UsageError`.

`parse(text, slash)` is pure: no I/O. `handlers.tokens` splits the text; the declared parser of
the command word (`handlers.registry`) reads the rest, with the readers in `handlers.arguments`;
every usage error ends with the right form to type, from the declarations as `help` shows them.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from bot.slack.mrkdwn import Mrkdwn, render
from handlers import arguments as read
from handlers.arguments import Problem
from handlers.registry import REGISTRY, Command, Spec
from handlers.tokens import Token, UnclosedQuote, tokenize
from handlers.usage import (
    DEFAULT_SLASH,
    CommandHelp,
    did_you_mean,
    listed,
    show,
    usage_hint,
    usage_table,
)

__all__ = [
    "Command",
    "CommandHelp",
    "UsageError",
    "parse",
    "usage_hint",
]  # and COMMAND_WORDS, USAGE


def __getattr__(name: str) -> Any:
    """`COMMAND_WORDS` and `USAGE`, read from the declarations when asked for (they are all
    made once `handlers` is imported)."""
    if name == "COMMAND_WORDS":
        return REGISTRY.words()
    if name == "USAGE":
        return usage_table()
    raise AttributeError(name)


class UsageError(Exception):
    """The command is not valid. `message` says what was wrong and the right form to type;
    `command` is the command word, when known; `target` what it was about, once looked up."""

    def __init__(self, message: Mrkdwn, command: str | None = None, target: str = "") -> None:
        super().__init__(message.plain)
        self.message = message
        self.command = command
        self.target = target


def parse(text: str, slash: str = DEFAULT_SLASH) -> Command:
    """Parse the text typed after the slash command `slash`; raise `UsageError` if invalid."""
    try:
        return _parse(text)
    except Problem as problem:
        message = render("{} {}", problem.sentence, usage_hint(problem.command, slash))
        raise UsageError(message, problem.command) from None


def _parse(text: str) -> Command:
    command = _guess_command(text)
    _reject_control_characters(text, command)
    try:
        tokens = tokenize(text)
    except UnclosedQuote as error:
        raise Problem(_unclosed(error.rest), command) from None
    if not tokens:
        tokens = [Token("help")]
    spec = _declared(tokens[0])
    assert spec.grammar is not None
    return spec.grammar(read.split(spec.word, tokens[1:], spec.options), spec.model)


def _guess_command(text: str) -> str | None:
    """The command word, if the text starts with one: to word errors found before parsing."""
    words = text.split(None, 1)
    first = words[0].lower() if words else ""
    return first if first in REGISTRY.words() else None


def _reject_control_characters(text: str, command: str | None) -> None:
    for char in text:
        if unicodedata.category(char) in {"Cc", "Cs"} and not char.isspace():
            sentence = render(
                "The text holds an invisible control character (U+{:04X}). "
                "Type the command again without it.",
                ord(char),
            )
            raise Problem(sentence, command)


def _unclosed(rest: str) -> Mrkdwn:
    if not rest.strip():
        return render('The quote at the end is never closed; remove it, or end the value with `"`.')
    return render(
        'The quote in front of {} is never closed; end the value with `"`.', show(rest, 24)
    )


def _declared(token: Token) -> Spec:
    word = token.shown.strip().lower()
    spec = REGISTRY.parser(word)
    if spec is not None:
        return spec
    words = REGISTRY.words()
    hint = did_you_mean(word, words) or render(" The commands are {}.", listed(words))
    raise Problem(render("Unknown command {}.{}", show(token.shown), hint), None)
