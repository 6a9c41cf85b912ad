"""One declaration per command: the registry the grammar, `help`, dispatch, the permission list,
the wording of outcomes and the buttons all read.

A command is declared once, in the module of its area, with its model and its executor:

    class Mute(ParticipantCommand):
        \"\"\"`mute <participant>`.\"\"\"

    @command(
        Mute,
        word="mute",
        permission="mute",
        usage=Usage("mute <participant>", "Mute a participant.", 'mute "Alice Parkes"'),
        grammar=read.one_participant,  # reads the words after `mute` into the model
        said=Said(done="muted {target}", attempt="mute {target}"),
        buttons=(Offer("participant_mute", "Mute"),),
    )
    async def mute(ctx: Context, command: Mute) -> Done: ...

`kind` says how the outcome is shown (an action in the channel, a listing privately, a form);
`confirm=True` makes the executor ask first and run again when the confirmation is clicked;
`key` (the word by default) names the model in button values. The permission names are the
policy file's (`bot.auth.policy.PERMISSIONS`): a test fails when they and the declarations part.

Words with several forms (`backup now|list|restore`, `dial` and its form) declare one model per
form; the first form of a word carries the summary and example `help` shows, and one of them
the parser for the word (`grammar=`), which may return any of the word's models.

A button's value is the model's compact JSON under its `key` (`encode`), validated back into the
model on click (`decode`): no command text is written or parsed again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.auth.policy import ALWAYS_ALLOWED, PERMISSIONS
from bot.slack.limits import BUTTON_VALUE, units

Kind = Literal["action", "listing", "form"]
"""`action`: changes something (said in the channel, with `Said` wording); `listing`: shown only
to the person who asked; `form`: opens a Slack form (must run within 3 s of the click)."""


class Command(BaseModel):
    """A typed command: the arguments only. `word` and `permission` come from its declaration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    word: ClassVar[str]
    permission: ClassVar[str | None]
    key: ClassVar[str]  # unique among commands: names the model in a button's value
    opens_form: ClassVar[bool] = False  # Slack's trigger id for it expires 3 s after the click

    def to_text(self) -> str:
        """The command as text to type after the slash command (it parses to an equal model)."""
        return " ".join((self.word, *self._arguments()))

    def _arguments(self) -> tuple[str, ...]:
        return ()


C = TypeVar("C", bound=Command)
Executor = Callable[[Any, Any], Awaitable[Any]]
Parser = Callable[[Any, Any], Command]
"""Reads the words after the command word (`handlers.arguments.Args`) into the model it is given
(the declaring one); may return another model of the same word (`dial` alone opens a form)."""


@dataclass(frozen=True)
class Usage:
    """How the command is typed (without the slash command); the first form of a word also
    says what the word does and gives an example."""

    form: str
    summary: str = ""
    example: str = ""


@dataclass(frozen=True)
class Said:
    """Past tense for the channel ("muted {target}") and the infinitive that failures use
    ("tried to mute {target}, but it did not happen"; "asked to mute {target}: ... may or may
    not have happened")."""

    done: str
    attempt: str


@dataclass(frozen=True)
class Offer:
    """A button that offers the command: its action id and label; `dialog` when Slack's own
    confirm dialog asks "are you sure?" before the click reaches the bot."""

    action_id: str
    label: str
    dialog: bool = False


@dataclass(frozen=True)
class Spec:
    """Everything declared about one command."""

    model: type[Command]
    key: str
    word: str
    permission: str | None
    kind: Kind
    execute: Executor
    usage: Usage | None = None  # None: not typed (reached only by a button)
    grammar: Parser | None = None  # the parser of the whole word, on one of its forms
    options: tuple[str, ...] = ()  # `key=value` options the word accepts
    said: Said | None = None
    confirm: bool = False  # asks before acting (then runs again, confirmed)
    buttons: tuple[Offer, ...] = ()


class Registry:
    """Every declared command, in declaration order."""

    def __init__(self) -> None:
        self._specs: dict[type[Command], Spec] = {}
        self._keys: dict[str, Spec] = {}
        self._actions: dict[str, Spec] = {}
        self._words: tuple[str, ...] | None = None  # read on every command: kept until an add
        self._form_words: frozenset[str] | None = None  # likewise

    def add(self, spec: Spec) -> None:
        for name, taken in (("model", spec.model in self._specs), ("key", spec.key in self._keys)):
            if taken:
                raise ValueError(f"{spec.model.__name__}: its {name} is declared twice")
        for offer in spec.buttons:
            if offer.action_id in self._actions:
                raise ValueError(f"action id {offer.action_id!r} offers two commands")
        spec.model.word, spec.model.permission, spec.model.key = (
            spec.word,
            spec.permission,
            spec.key,
        )
        spec.model.opens_form = spec.kind == "form"
        self._specs[spec.model] = spec
        self._keys[spec.key] = spec
        self._actions |= {offer.action_id: spec for offer in spec.buttons}
        self._words = None
        self._form_words = None

    def __iter__(self) -> Iterator[Spec]:
        return iter(self._specs.values())

    def of(self, command: Command | type[Command]) -> Spec:
        model = command if isinstance(command, type) else type(command)
        return self._specs[model]

    def by_key(self, key: str) -> Spec | None:
        return self._keys.get(key)

    def offered_by(self, action_id: str) -> Spec | None:
        """The command a button with this action id offers."""
        return self._actions.get(action_id)

    def offer(self, model: type[Command], action_id: str) -> Offer:
        """The declared button `action_id` of `model` (KeyError if it declares none such)."""
        for offer in self.of(model).buttons:
            if offer.action_id == action_id:
                return offer
        raise KeyError(f"{model.__name__} declares no button {action_id!r}")

    @property
    def action_ids(self) -> tuple[str, ...]:
        return tuple(self._actions)

    def words(self) -> tuple[str, ...]:
        """The typed command words, in the grammar's order (INTERFACE section 4: `help` and
        `whoami`, then as the policy file lists the permissions)."""
        if self._words is None:
            typed = [spec for spec in self if spec.usage is not None]
            self._words = tuple(dict.fromkeys(spec.word for spec in sorted(typed, key=_rank)))
        return self._words

    def form_words(self) -> frozenset[str]:
        """The words of the commands that open a form."""
        if self._form_words is None:
            self._form_words = frozenset(spec.word for spec in self if spec.kind == "form")
        return self._form_words

    def forms(self, word: str) -> list[Spec]:
        return [spec for spec in self if spec.word == word and spec.usage is not None]

    def parser(self, word: str) -> Spec | None:
        """The form of `word` that carries its parser (and the options the word accepts)."""
        for spec in self.forms(word):
            if spec.grammar is not None:
                return spec
        return None

    def permissions(self) -> tuple[str, ...]:
        """Every permission a command needs, in the policy file's order."""
        needed = {spec.permission for spec in self if spec.permission is not None}
        return tuple(sorted(needed, key=lambda permission: _ORDER.get(permission, len(_ORDER))))

    def said(self, word: str) -> Said:
        """The wording of a command word or permission (`restore` is `backup restore`'s)."""
        for spec in self:
            if spec.said is not None and word in (spec.permission, spec.word):
                return spec.said
        raise KeyError(f"no command that acts is called {word!r}")


_ORDER = {name: index for index, name in enumerate((*ALWAYS_ALLOWED, *PERMISSIONS))}


def _rank(spec: Spec) -> int:
    return _ORDER.get(spec.permission or spec.word, len(_ORDER))


REGISTRY = Registry()


def command(
    model: type[C],
    *,
    word: str,
    permission: str | None,
    kind: Kind = "action",
    key: str | None = None,
    usage: Usage | None = None,
    grammar: Parser | None = None,
    options: tuple[str, ...] = (),
    said: Said | None = None,
    confirm: bool = False,
    buttons: tuple[Offer, ...] = (),
) -> Callable[[Executor], Executor]:
    """Declare `model`'s command, run by the decorated executor (see the module docstring)."""

    def declare(execute: Executor) -> Executor:
        REGISTRY.add(
            Spec(
                model=model,
                key=key or word,
                word=word,
                permission=permission,
                kind=kind,
                execute=execute,
                usage=usage,
                grammar=grammar,
                options=options,
                said=said,
                confirm=confirm,
                buttons=buttons,
            )
        )
        return execute

    return declare


# --- button values ------------------------------------------------------------------------------


class StaleButton(ValueError):
    """A button value this version cannot read: from an older version, or not the bot's."""


@dataclass(frozen=True)
class Clicked:
    """What a button carries: the command, and the listing it sits in (refreshed afterwards)."""

    command: Command
    refresh: Command | None = None


def _compact(command: Command) -> dict[str, Any]:
    data: dict[str, Any] = {"c": command.key}
    arguments = command.model_dump(mode="json", exclude_defaults=True)
    if arguments:
        data["a"] = arguments
    return data


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def encode(command: Command, refresh: Command | None = None, *, limit: int = BUTTON_VALUE) -> str:
    """The button value: the command's compact JSON (and the listing to refresh, dropped when
    both would not fit Slack's limit, `limit`: a select option's is shorter). A command that
    cannot fit alone is a bug: ValueError."""
    data = _compact(command)
    if refresh is not None:
        value = _dumps({**data, "r": _compact(refresh)})
        if units(value) <= limit:
            return value
    value = _dumps(data)
    if units(value) > limit:
        raise ValueError(f"{command.key}: a button value of {units(value)} units is too long")
    return value


def _model(data: Any) -> Command:
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        raise StaleButton("not a command")
    spec = REGISTRY.by_key(data["c"])
    if spec is None:
        raise StaleButton(f"no command {data['c']!r}")
    try:
        return spec.model.model_validate(data.get("a", {}))
    except ValidationError as exc:
        raise StaleButton(f"{spec.key}: {exc.error_count()} invalid argument(s)") from None


def decode(value: str) -> Clicked:
    """The command a button carries, validated into its model; StaleButton otherwise."""
    try:
        data = json.loads(value)
    except ValueError:
        raise StaleButton("not JSON") from None
    refresh = data.get("r") if isinstance(data, dict) else None
    return Clicked(_model(data), None if refresh is None else _model(refresh))


@dataclass
class Problems:
    """What a declaration lacks (`check`): one line per missing part."""

    lines: list[str] = field(default_factory=list)

    def need(self, present: object, spec: Spec, part: str) -> None:
        if not present:
            self.lines.append(f"{spec.model.__name__} ({spec.key}): no {part}")


def check(registry: Registry, always_allowed: tuple[str, ...]) -> list[str]:
    """Every part a declared command needs; empty when none is missing."""
    problems = Problems()
    for spec in registry:
        problems.need(spec.model.__doc__, spec, "docstring")
        problems.need(
            spec.permission is not None or spec.word in always_allowed, spec, "permission"
        )
        problems.need(spec.usage is not None or spec.buttons, spec, "usage line or button")
        if spec.usage is not None:
            problems.need(registry.parser(spec.word), spec, f"parser for the word {spec.word!r}")
            first = registry.forms(spec.word)[0]
            problems.need(first.usage and first.usage.summary, spec, "summary on the first form")
            problems.need(first.usage and first.usage.example, spec, "example on the first form")
        if spec.kind == "action":
            problems.need(spec.said, spec, "done / attempt wording")
        for offer in spec.buttons:
            problems.need(offer.label, spec, f"label for the button {offer.action_id!r}")
    return problems.lines
