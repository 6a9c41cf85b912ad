"""Slash-command text → a typed command (`handlers.commands`), or a `UsageError`.

`parse(text, slash)` is pure: no I/O. `handlers.tokens` splits the text, one parser per command
word reads the rest (with the readers in `handlers.arguments`), and every usage error ends with
the right form to type from `handlers.usage.USAGE`, the table `help` renders too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import TypeVar

from bot.mrkdwn import Mrkdwn, render
from handlers import arguments as read
from handlers.arguments import Args, Problem, build
from handlers.commands import (
    CALL_TYPES,
    COMMAND_WORDS,
    PROTOCOLS,
    ROLES,
    TEMPLATE_ID_MAX,
    Admit,
    BackupList,
    BackupNow,
    BackupRestore,
    Command,
    Conferences,
    Dial,
    Disconnect,
    End,
    Help,
    Lock,
    Mute,
    MuteGuests,
    OpenDialModal,
    Participants,
    Sync,
    Transfer,
    Unlock,
    Unmute,
    UnmuteGuests,
    WhoAmI,
)
from handlers.tokens import Token, UnclosedQuote, tokenize
from handlers.usage import (
    DEFAULT_SLASH,
    USAGE,
    CommandHelp,
    did_you_mean,
    listed,
    show,
    show_tokens,
    usage_hint,
)

__all__ = ["COMMAND_WORDS", "USAGE", "Command", "CommandHelp", "UsageError", "parse", "usage_hint"]

_K = TypeVar("_K", bound=Command)

_CONFERENCE = "a conference: its name, one of its aliases or its id"


class UsageError(Exception):
    """The command text is not valid. `message` says what was wrong and the right form to type;
    `command` is the command word, when known."""

    def __init__(self, message: Mrkdwn, command: str | None = None) -> None:
        super().__init__(message.plain)
        self.message = message
        self.command = command


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
        return Help()
    word = _command_word(tokens[0])
    parser, options = _PARSERS[word]
    return parser(read.split(word, tokens[1:], options))


def _guess_command(text: str) -> str | None:
    """The command word, if the text starts with one: to word errors found before parsing."""
    words = text.split(None, 1)
    first = words[0].lower() if words else ""
    return first if first in COMMAND_WORDS else None


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


def _command_word(token: Token) -> str:
    word = token.shown.strip().lower()
    if word in _PARSERS:
        return word
    hint = did_you_mean(word, COMMAND_WORDS) or render(
        " The commands are {}.", listed(COMMAND_WORDS)
    )
    raise Problem(render("Unknown command {}.{}", show(token.shown), hint), None)


# One parser per command word: each reads the words after it.


def _help(args: Args) -> Command:
    if not args.positional:
        return Help()
    token = read.single(args, "one command word")
    topic = token.text.strip().lower()
    if topic not in COMMAND_WORDS:
        known = render(" The commands are {}.", listed(COMMAND_WORDS))
        sentence = render(
            "There is no command {}.{}{}",
            show(token.text),
            did_you_mean(topic, COMMAND_WORDS),
            known,
        )
        raise Problem(sentence, "help")
    return build(Help, "help", topic=topic)


def _without_arguments(model: type[_K]) -> Callable[[Args], _K]:
    def parse_nothing(args: Args) -> _K:
        read.nothing(args)
        return build(model, args.word)

    return parse_nothing


def _on_conference(model: type[_K]) -> Callable[[Args], _K]:
    def parse_conference(args: Args) -> _K:
        token = read.single(args, _CONFERENCE, advice=read.QUOTE_NAMES)
        conference = read.value(token, args.word, "conference")
        return build(model, args.word, conference=conference)

    return parse_conference


def _on_participant(model: type[_K]) -> Callable[[Args], _K]:
    def parse_participant(args: Args) -> _K:
        participant = read.participant(args.word, args.positional)
        return build(model, args.word, participant=participant)

    return parse_participant


def _dial(args: Args) -> Command:
    if not args.positional and not args.options:
        return OpenDialModal()
    alias, destination = _dial_targets(args.positional)
    options = {key: _DIAL_OPTIONS[key](key, text) for key, text in args.options.items()}
    return build(Dial, "dial", conference_alias=alias, destination=destination, **options)


def _dial_targets(tokens: tuple[Token, ...]) -> tuple[str, str]:
    if not tokens:
        raise Problem(
            render("`dial` needs the conference alias and the destination to call."), "dial"
        )
    if len(tokens) == 1:
        sentence = render(
            "`dial` needs a destination to call after the alias {}.", show(tokens[0].text)
        )
        raise Problem(sentence, "dial")
    if len(tokens) > 2:
        sentence = render(
            "`dial` takes two values, the conference alias and the destination; got {}: {}. "
            'Put a value with spaces in quotes, and a display name as name="Alice Parkes".',
            len(tokens),
            show_tokens(tokens),
        )
        raise Problem(sentence, "dial")
    alias = read.value(tokens[0], "dial", "conference alias")
    return alias, read.value(tokens[1], "dial", "destination")


_DIAL_OPTIONS: dict[str, Callable[[str, str], object]] = {
    "role": lambda key, text: read.choice("dial", key, text, ROLES),
    "protocol": lambda key, text: read.choice("dial", key, text, PROTOCOLS),
    "call_type": lambda key, text: read.choice("dial", key, text, CALL_TYPES),
    "location": lambda key, text: text,
    "node": lambda key, text: read.ip_address("dial", key, text),
    "name": lambda key, text: text,
}


def _transfer(args: Args) -> Command:
    cut = read.last_keyword(args.positional, "to")
    if cut is None:
        sentence = render("`transfer` needs `to` and the alias of the conference to move them to.")
        raise Problem(sentence, "transfer")
    target = args.positional[cut + 1 :]
    if any(token.is_keyword("in") for token in target):
        sentence = render(
            "Put `in &lt;conference&gt;` before `to`: it says where the participant is now."
        )
        raise Problem(sentence, "transfer")
    participant = read.participant("transfer", args.positional[:cut])
    to_alias = read.after_keyword("transfer", target, "to", "conference alias")
    role = args.options.get("role")
    role = None if role is None else read.choice("transfer", "role", role, ROLES)
    return build(Transfer, "transfer", participant=participant, to_alias=to_alias, role=role)


def _sync(args: Args) -> Command:
    token = read.single(args, "the id of a VMR sync template")
    digits = token.text.strip()
    number = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 10 else 0
    if not 1 <= number <= TEMPLATE_ID_MAX:
        sentence = render(
            "The template id must be a whole number such as 3, not {}.", show(token.text)
        )
        raise Problem(sentence, "sync")
    return build(Sync, "sync", template_id=number)


def _backup(args: Args) -> Command:
    forms = render("`now`, `list` or `restore &lt;filename&gt;`")
    if not args.positional:
        raise Problem(render("`backup` needs {}.", forms), "backup")
    action, rest = args.positional[0].text.strip().lower(), args.positional[1:]
    if action == "restore":
        filename = read.after_keyword("backup", rest, "restore", "backup file name")
        return build(BackupRestore, "backup", filename=filename)
    if action in _BACKUP_ACTIONS:
        read.nothing(Args("backup", rest, {}), word=f"backup {action}")
        return build(_BACKUP_ACTIONS[action], "backup")
    hint = did_you_mean(action, ("now", "list", "restore"))
    sentence = render("`backup` takes {}, not {}.{}", forms, show(args.positional[0].text), hint)
    raise Problem(sentence, "backup")


_BACKUP_ACTIONS: dict[str, type[BackupNow | BackupList]] = {"now": BackupNow, "list": BackupList}


_PARSERS: dict[str, tuple[Callable[[Args], Command], tuple[str, ...]]] = {
    "help": (_help, ()),
    "whoami": (_without_arguments(WhoAmI), ()),
    "conferences": (_without_arguments(Conferences), ()),
    "participants": (_on_conference(Participants), ()),
    "dial": (_dial, ("role", "protocol", "call_type", "location", "node", "name")),
    "mute": (_on_participant(Mute), ()),
    "unmute": (_on_participant(Unmute), ()),
    "disconnect": (_on_participant(Disconnect), ()),
    "admit": (_on_participant(Admit), ()),
    "transfer": (_transfer, ("role",)),
    "lock": (_on_conference(Lock), ()),
    "unlock": (_on_conference(Unlock), ()),
    "mute-guests": (_on_conference(MuteGuests), ()),
    "unmute-guests": (_on_conference(UnmuteGuests), ()),
    "end": (_on_conference(End), ()),
    "sync": (_sync, ()),
    "backup": (_backup, ()),
}
"""Every command word: its parser, and the option keys it accepts."""
