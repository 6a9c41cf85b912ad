"""The permissions file (INTERFACE §5): YAML → frozen pydantic models, or a `PolicyError`.

A bad file must stop start-up with a message an operator can act on, so every problem is reported
as ``<file> line <n>: <what is wrong>``. Lines come from the YAML node marks: the document is
composed once, a ``path → line`` index is built from the node tree, and each pydantic error
location (or cross-check path) is looked up in it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bot.config import ConfigError

PERMISSIONS: tuple[str, ...] = (
    "conferences",
    "participants",
    "dial",
    "mute",
    "unmute",
    "disconnect",
    "admit",
    "transfer",
    "role",
    "layout",
    "lock",
    "unlock",
    "mute-guests",
    "unmute-guests",
    "end",
    "sync",
    "status",
    "backup",
    "restore",
)
ALWAYS_ALLOWED: tuple[str, ...] = ("help", "whoami")
NODE_WIDE: tuple[str, ...] = ("sync", "status", "backup", "restore")
"""Permissions that act on the whole management node: a conference scope cannot limit them."""
EVERYONE = "*"

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_GROUP_HANDLE = re.compile(r"^@[\w.\-]+$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class PolicyError(ConfigError):
    """The permissions file cannot be used; the message names the file, line and problem."""


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _permission_name(name: str) -> str:
    if name == EVERYONE or name in PERMISSIONS or name in ALWAYS_ALLOWED:
        return name
    raise ValueError(f"unknown permission '{name}'{_suggest(name, PERMISSIONS)}")


def _member(member: str) -> str:
    if member == EVERYONE or _USER_ID.match(member) or _GROUP_ID.match(member):
        return member
    if _GROUP_HANDLE.match(member):
        return member.lower()
    raise ValueError(
        f"'{member}' is not a Slack user ID (U…), a user-group handle (@team) "
        f'or user-group ID (S…), or "*"'
    )


def _channel_id(channel: str) -> str:
    if _CHANNEL_ID.match(channel):
        return channel
    raise ValueError(
        f"'{channel}' is not a channel ID; use the ID (C…) from the bottom of the channel's details"
    )


def _not_empty(patterns: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if patterns is not None and not patterns:
        raise ValueError("an empty list matches nothing; leave the key out to mean everything")
    return patterns


PermissionName = Annotated[str, AfterValidator(_permission_name)]
Member = Annotated[str, AfterValidator(_member)]
ChannelId = Annotated[str, AfterValidator(_channel_id)]
Glob = Annotated[str, Field(min_length=1)]


class ConferenceScope(BaseModel):
    """What a conference is called: the status `name` and its configured aliases."""

    model_config = ConfigDict(frozen=True)

    name: str
    aliases: tuple[str, ...] = ()


def scope_covers(patterns: Iterable[str], conference: ConferenceScope) -> bool:
    """Whether a glob matches the conference name or one of its aliases (case-insensitive)."""
    names = [name.casefold() for name in (conference.name, *conference.aliases)]
    folded = [pattern.casefold() for pattern in patterns]
    return any(fnmatchcase(name, pattern) for name in names for pattern in folded)


class Role(BaseModel):
    """One entry under `roles`: the permissions it allows, optionally only on some conferences."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: tuple[PermissionName, ...]
    conferences: Annotated[tuple[Glob, ...] | None, AfterValidator(_not_empty)] = None

    def grants(self, permission: str) -> bool:
        return EVERYONE in self.allow or permission in self.allow

    @property
    def permissions(self) -> tuple[str, ...]:
        """The permissions it grants, in canonical order (`*` expanded)."""
        return tuple(name for name in PERMISSIONS if self.grants(name))

    def covers(self, conference: ConferenceScope) -> bool:
        """Whether a glob matches the conference name or one of its aliases (case-insensitive)."""
        return self.conferences is None or scope_covers(self.conferences, conference)


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_EXPIRY = 600.0  # `expires` defaults to 10m (INTERFACE §5)


def _duration(value: Any) -> float:
    """`10m`, `90s`, `1h`, or a number of seconds: at least 1 s, at most a day."""
    match = _DURATION.match(str(value)) if isinstance(value, str | int) else None
    if match is None or isinstance(value, bool):
        raise ValueError(f"'{value}' is not a duration such as 10m, 90s or 1h")
    seconds = float(int(match.group(1)) * _SECONDS[match.group(2)])
    if not 1 <= seconds <= 86400:
        raise ValueError(f"'{value}': an approval must expire between 1s and 1d after it is asked")
    return seconds


class Approval(BaseModel):
    """One entry under `approval`: who may approve the command word, and for how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approvers: Annotated[tuple[str, ...], Field(min_length=1)]
    expires: Annotated[float, BeforeValidator(_duration)] = DEFAULT_EXPIRY


def _approved_permission(name: str) -> str:
    if name in PERMISSIONS:
        return name
    raise ValueError(
        f"'{name}' cannot need approval: name a permission{_suggest(name, PERMISSIONS)}"
    )


Show = Literal["lobby", "roster", "started"]
SHOWN: tuple[Show, ...] = ("lobby", "roster", "started")


class Watch(BaseModel):
    """One entry under `watch` (INTERFACE §8): live messages about these conferences, here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    conferences: Annotated[tuple[Glob, ...], Field(min_length=1)]
    channel: ChannelId
    show: Annotated[tuple[Show, ...], Field(min_length=1)] = SHOWN

    def covers(self, conference: ConferenceScope) -> bool:
        return scope_covers(self.conferences, conference)


class Policy(BaseModel):
    """The whole file. Default deny: a user holds exactly the roles assigned to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: dict[str, Role]
    assign: dict[str, tuple[Member, ...]] = Field(default_factory=dict)
    channels: Annotated[tuple[ChannelId, ...] | None, AfterValidator(_not_empty)] = None
    approval: dict[Annotated[str, AfterValidator(_approved_permission)], Approval] = Field(
        default_factory=dict
    )

    def approval_for(self, permission: str) -> Approval | None:
        """The two-person rule for a permission, if the file names one."""
        return self.approval.get(permission)

    watch: tuple[Watch, ...] = ()

    @cached_property
    def group_refs(self) -> frozenset[str]:
        """The user-group IDs and `@handles` the file names (asking Slack is needed only if any)."""
        return frozenset(
            member
            for members in self.assign.values()
            for member in members
            if member.startswith("@") or _GROUP_ID.match(member)
        )

    @property
    def uses_groups(self) -> bool:
        return bool(self.group_refs)

    def roles_of(self, user_id: str, groups: frozenset[str] = frozenset()) -> tuple[str, ...]:
        """Role names held by the user directly, through `"*"`, or through one of `groups`."""
        ids = {user_id, EVERYONE} | groups
        return tuple(name for name, members in self.assign.items() if ids.intersection(members))

    @cached_property
    def roles_through_groups(self) -> frozenset[str]:
        """Role names assigned to at least one user group."""
        return frozenset(
            name for name, members in self.assign.items() if self.group_refs.intersection(members)
        )

    def accepts_channel(self, channel_id: str | None) -> bool:
        return self.channels is None or channel_id in self.channels


def load_policy(path: Path) -> Policy:
    """Read and validate the permissions file; any problem raises `PolicyError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError(f"{path}: cannot read the permissions file: {reason}") from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "permissions.yaml") -> Policy:
    data, lines = _compose(text, source)
    if not isinstance(data, Mapping):
        problem = "the file is empty" if data is None else "the top level must be a mapping"
        raise PolicyError(f"{source}: {problem}; it needs a 'roles' mapping (see the example file)")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [(_loc_path(err["loc"]), _describe(err)) for err in exc.errors()]
        raise PolicyError(_report(source, lines, problems)) from None
    problems = _undefined_roles(policy) + _scoped_node_wide(policy) + _unknown_approvers(policy)
    if problems:
        raise PolicyError(_report(source, lines, problems))
    return policy


Located = tuple[tuple[str, ...], str]


def _undefined_roles(policy: Policy) -> list[Located]:
    return [
        (
            ("assign", name),
            f"role '{name}' is assigned but not defined under roles{_suggest(name, policy.roles)}",
        )
        for name in policy.assign
        if name not in policy.roles
    ]


def _unknown_approvers(policy: Policy) -> list[Located]:
    return [
        (
            ("approval", word, "approvers"),
            f"approval '{word}': approver role '{name}' is not defined under roles"
            f"{_suggest(name, policy.roles)}",
        )
        for word, rule in policy.approval.items()
        for name in rule.approvers
        if name not in policy.roles
    ]


def _scoped_node_wide(policy: Policy) -> list[Located]:
    """A `conferences` scope cannot limit what acts on the whole node, so such a grant would
    claim a limit that is not enforced: refused, naming the role."""
    problems: list[Located] = []
    for name, role in policy.roles.items():
        if role.conferences is None:
            continue
        if EVERYONE in role.allow:
            granted = [p for p in NODE_WIDE if p in PERMISSIONS]
            what = '"*" includes the node-wide permissions ' + ", ".join(granted)
        else:
            granted = [p for p in role.allow if p in NODE_WIDE]
            if not granted:
                continue
            what = f"{', '.join(granted)} act{'s' if len(granted) == 1 else ''} on the whole node"
        problems.append(
            (
                ("roles", name, "allow"),
                f"role '{name}': {what}, which a role with a `conferences` scope cannot grant; "
                "list only conference permissions here and give the node-wide ones in a role "
                "without `conferences`",
            )
        )
    return problems


def _compose(text: str, source: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """Parse once, keeping both the data and a `path → 1-based line` index of the nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = ": ".join(part for part in (exc.context, exc.problem) if part)
        if "alias" in problem:
            problem += ' (write "*" in quotes)'
        raise PolicyError(f"{source}{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _index(node, (), lines, source)
    return data, lines


def _index(
    node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int], source: str
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                under = f" under {path[-1]}" if path else ""
                raise PolicyError(f"{source} line {line}: '{key}' appears twice{under}")
            seen.add(key)
            lines[(*path, key)] = line
            _index(value_node, (*path, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, str(index))] = item.start_mark.line + 1
            _index(item, (*path, str(index)), lines, source)


def _loc_path(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    return tuple(str(part) for part in loc if part != "[key]")


def _report(source: str, lines: dict[tuple[str, ...], int], problems: list[Located]) -> str:
    def line_of(path: tuple[str, ...]) -> int | None:
        while path and path not in lines:
            path = path[:-1]
        return lines.get(path)

    located = sorted(((line_of(path), text) for path, text in problems), key=lambda p: p[0] or 0)
    return "; ".join(
        f"{source} line {line}: {text}" if line else f"{source}: {text}" for line, text in located
    )


_EXPECTED_KEYS = {
    (): "roles, assign, channels, approval",
    ("roles",): "allow, conferences",
    ("approval",): "approvers, expires",
}
_TYPE_WORDS = {
    "tuple_type": "a list, e.g. [a, b]",
    "dict_type": "a mapping of names to entries",
    "model_type": "a mapping with an 'allow' list",
    "string_type": "text",
}


def _where(loc: tuple[int | str, ...]) -> str:
    """Where in the file, as the operator reads it: `role 'viewer', allow`, `assign 'admin'`."""
    parts = _loc_path(loc)
    if len(parts) >= 2 and parts[0] == "roles":
        inner = f", {parts[2]}" if len(parts) > 2 else ""
        return f"role '{parts[1]}'{inner}"
    if len(parts) >= 2 and parts[0] == "assign":
        return f"assign '{parts[1]}'"
    if len(parts) >= 2 and parts[0] == "approval":
        inner = f", {parts[2]}" if len(parts) > 2 else ""
        return f"approval '{parts[1]}'{inner}"
    return parts[0] if parts else ""


def _at(loc: tuple[int | str, ...], text: str) -> str:
    where = _where(loc)
    return f"{where}: {text}" if where else text


def _describe(error: Any) -> str:
    """One pydantic error in the operator's words."""
    loc: tuple[int | str, ...] = error["loc"]
    kind: str = error["type"]
    if kind == "value_error":
        return _at(loc[:-1] if isinstance(loc[-1], int) else loc, str(error["ctx"]["error"]))
    if kind == "extra_forbidden":
        expected = _EXPECTED_KEYS.get(_loc_path(loc[:1]) if len(loc) > 1 else (), "")
        return _at(loc[:-1], f"unknown key '{loc[-1]}' (expected {expected})")
    if kind == "missing":
        return _at(loc[:-1], f"'{loc[-1]}' is missing")
    wanted = _TYPE_WORDS.get(kind)
    got = type(error["input"]).__name__ if error["input"] is not None else "nothing"
    return _at(loc, f"expected {wanted}, got {got}" if wanted else str(error["msg"]))
