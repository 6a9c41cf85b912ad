"""Reading the words after a command word: the pieces every command's parser is made of, and
the parsers many commands share (`no_arguments`, `one_conference`, `one_participant`).

Each reader returns a value or raises `Problem`, a sentence saying what was wrong; the grammar
adds the usage hint, which needs the slash command.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from bot.slack.mrkdwn import Mrkdwn, render
from handlers.commands import ParticipantRef
from handlers.tokens import Token
from handlers.usage import did_you_mean, listed, show, show_tokens

M = TypeVar("M", bound=BaseModel)
C = TypeVar("C", bound=str)

CONFERENCE = "a conference: its name, one of its aliases or its id"
PARTICIPANT = "a participant: a name (in quotes if it has spaces) or a participant id"
QUOTE_NAMES = "Put a name with spaces in quotes."


class Problem(Exception):
    """What was wrong with the text, and the command word when known."""

    def __init__(self, sentence: Mrkdwn, command: str | None) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.command = command


@dataclass(frozen=True)
class Args:
    """The words after the command word: positional values, and options by normalised key."""

    word: str
    positional: tuple[Token, ...]
    options: Mapping[str, str]


def split(word: str, tokens: Sequence[Token], allowed: tuple[str, ...]) -> Args:
    """Separate `key=value` options (checked against `allowed`) from positional values."""
    options: dict[str, str] = {}
    for token in tokens:
        if token.key is not None:
            key, value = _option(word, token.key, token, allowed)
            if key in options:
                raise Problem(render("`{}=` is given twice; give each option once.", key), word)
            options[key] = value
    return Args(word, tuple(token for token in tokens if token.key is None), options)


def _option(word: str, typed: str, token: Token, allowed: tuple[str, ...]) -> tuple[str, str]:
    if not allowed:
        sentence = render("`{}` takes no options, but got {}.", word, show(token.shown))
        raise Problem(
            render("{} If the `=` is part of a name, put the name in quotes.", sentence), word
        )
    key = typed.lower().replace("-", "_")
    if key not in allowed:
        known = listed(f"{option}=" for option in allowed)
        sentence = render(
            "`{}` has no option {}; its options are {}.", word, show(typed + "="), known
        )
        raise Problem(render("{}{}", sentence, did_you_mean(key, allowed, suffix="=")), word)
    value = token.text.strip()
    if not value:
        raise Problem(render("`{}=` needs a value after the `=`.", key), word)
    return key, value


def nothing(args: Args, word: str | None = None) -> None:
    """Refuse any positional value (`word` names the command in the sentence if not `args.word`)."""
    if args.positional:
        shown = show_tokens(args.positional)
        sentence = render("`{}` takes nothing after it, but got {}.", word or args.word, shown)
        raise Problem(sentence, args.word)


def single(args: Args, what: str, advice: str = "") -> Token:
    """Exactly one positional value, `what` the command needs."""
    if not args.positional:
        raise Problem(render("`{}` needs {}.", args.word, what), args.word)
    if len(args.positional) > 1:
        shown = show_tokens(args.positional)
        sentence = render(
            "`{}` takes {}, but got {} values: {}.", args.word, what, len(args.positional), shown
        )
        raise Problem(render("{} {}", sentence, advice) if advice else sentence, args.word)
    return args.positional[0]


def value(token: Token, word: str, what: str) -> str:
    """The token's text without surrounding whitespace; never empty."""
    text = token.text.strip()
    if not text:
        raise Problem(render("`{}` got an empty {}.", word, what), word)
    return text


def after_keyword(word: str, tokens: Sequence[Token], keyword: str, what: str) -> str:
    """The one value following `keyword` (`tokens` are the words after it)."""
    if not tokens:
        raise Problem(render("`{}` must be followed by the {}.", keyword, what), word)
    if len(tokens) > 1:
        shown = show_tokens(tokens)
        sentence = render(
            "After `{}` give one value, the {}, but got {}: {}.", keyword, what, len(tokens), shown
        )
        raise Problem(render("{} {}", sentence, QUOTE_NAMES), word)
    return value(tokens[0], word, what)


def last_keyword(tokens: Sequence[Token], keyword: str) -> int | None:
    """The index of the last bare `keyword` among `tokens`."""
    found = [index for index, token in enumerate(tokens) if token.is_keyword(keyword)]
    return found[-1] if found else None


def participant(word: str, tokens: Sequence[Token]) -> ParticipantRef:
    """`<participant> [in <conference>]`: the last bare `in` splits the two; the participant
    may be several words."""
    cut = last_keyword(tokens, "in")
    query_tokens = tokens if cut is None else tokens[:cut]
    query = " ".join(part for token in query_tokens if (part := token.text.strip()))
    if not query:
        raise Problem(render("`{}` needs {}.", word, PARTICIPANT), word)
    if cut is None:
        return build(ParticipantRef, word, query=query)
    conference = after_keyword(word, tokens[cut + 1 :], "in", "conference")
    return build(ParticipantRef, word, query=query, conference=conference)


def choice(word: str, key: str, text: str, choices: tuple[C, ...]) -> C:
    """One of `choices`, matched case-insensitively."""
    for known in choices:
        if known == text.lower():
            return known
    sentence = render("`{}` must be {}, not {}.", key, listed(choices, "or"), show(text))
    raise Problem(render("{}{}", sentence, did_you_mean(text.lower(), choices)), word)


def ip_address(word: str, key: str, text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 address (IPv6 may be in brackets); a host name is refused as such."""
    try:
        return ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        pass
    is_name = any(char.isalpha() for char in text) and ":" not in text
    problem = render("not a host name ({})" if is_name else "not {}", show(text))
    raise Problem(render("`{}` must be an IP address such as 10.0.0.5, {}.", key, problem), word)


def build(model: type[M], word: str, **fields: object) -> M:
    """Make the model; a value it refuses becomes a `Problem`, never pydantic's wording."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        where = " ".join(str(part) for part in error.errors()[0]["loc"]) or "it"
        sentence = render("`{}` cannot use the value given for {}.", word, where)
        raise Problem(sentence, word) from None


# Parsers shared by several commands (`@command(..., grammar=...)`): each gets the words after the
# command word and the declaring model.


def no_arguments(args: Args, model: type[M]) -> M:
    """`whoami`, `conferences`: nothing may follow the word."""
    nothing(args)
    return build(model, args.word)


def one_conference(args: Args, model: type[M]) -> M:
    """`lock <conference>` and the like."""
    token = single(args, CONFERENCE, advice=QUOTE_NAMES)
    return build(model, args.word, conference=value(token, args.word, "conference"))


def one_participant(args: Args, model: type[M]) -> M:
    """`mute <participant> [in <conference>]` and the like."""
    return build(model, args.word, participant=participant(args.word, args.positional))
