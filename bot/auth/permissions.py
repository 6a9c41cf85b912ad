"""The one decision: may this user run this permission (on this conference, in this channel)?

Order of the check, cheapest first: `help`/`whoami` always pass; then the channel restriction;
then the roles the user holds directly (their ID or `"*"`); only when those do not allow it and
a role given to a user group could, Slack is asked for the user's groups. If Slack cannot be
asked the answer is a denial that says so (fail closed).

The file format lives in `bot.auth.policy`; its public names are re-exported here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, SkipValidation

from bot.auth.policy import (
    ALWAYS_ALLOWED,
    NODE_WIDE,
    PERMISSIONS,
    ConferenceScope,
    Policy,
    PolicyError,
    Role,
    load_policy,
    parse_policy,
    scope_covers,
)
from bot.slack.mrkdwn import Mrkdwn, channel, code, join, render
from bot.slack.usergroups import MembershipResolver, MembershipUnavailable

__all__ = [
    "ALWAYS_ALLOWED",
    "NODE_WIDE",
    "PERMISSIONS",
    "Authorizer",
    "ConferenceScope",
    "Decision",
    "DenialReason",
    "Grant",
    "Policy",
    "PolicyError",
    "Refused",
    "RoleGrant",
    "UserProfile",
    "load_policy",
    "parse_policy",
    "scope_covers",
]

DenialReason = Literal[
    "missing_permission", "out_of_scope", "channel_not_allowed", "membership_unavailable"
]


class Decision(BaseModel):
    """The answer, with the reason and a sentence for the user and the audit when denied."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    permission: str
    reason: DenialReason | None = None
    detail: Annotated[str, SkipValidation] = ""  # `Mrkdwn` for Slack, kept as it is

    @classmethod
    def allow(cls, permission: str) -> Decision:
        return cls(allowed=True, permission=permission)

    @classmethod
    def deny(cls, permission: str, reason: DenialReason, detail: str) -> Decision:
        return cls(allowed=False, permission=permission, reason=reason, detail=detail)


class Grant(BaseModel):
    """A permission the user holds, and where: the one authorization of a command, made before
    anything is looked up. `conferences=None`: on every conference; else on those a glob of
    the user's roles that hold it matches (name or alias), which `covers` checks once the
    conference is known."""

    model_config = ConfigDict(frozen=True)

    permission: str
    conferences: tuple[str, ...] | None

    def covers(self, conference: ConferenceScope, shown: str | None = None) -> Decision:
        """Allowed on this conference? `shown` is how a denial names it (as typed)."""
        if self.conferences is None or scope_covers(self.conferences, conference):
            return Decision.allow(self.permission)
        detail = render(
            "your {} permission does not cover conference {} (it covers {})",
            code(self.permission),
            shown or conference.name,
            join(", ", (code(pattern) for pattern in self.conferences)),
        )
        return Decision.deny(self.permission, "out_of_scope", detail)


class RoleGrant(BaseModel):
    """One role a user holds: what it allows and where (`conferences=None`: everywhere)."""

    model_config = ConfigDict(frozen=True)

    role: str
    permissions: tuple[str, ...]
    conferences: tuple[str, ...] | None


class UserProfile(BaseModel):
    """What `whoami` shows and what `help` filters on."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    roles: tuple[RoleGrant, ...]
    permissions: tuple[str, ...]
    channels: tuple[str, ...] | None
    membership_error: str | None = None

    @property
    def commands(self) -> tuple[str, ...]:
        """Every command word the user may run somewhere (help and whoami included)."""
        return ALWAYS_ALLOWED + self.permissions

    def may(self, permission: str) -> bool:
        return permission in ALWAYS_ALLOWED or permission in self.permissions

    def scopes(self, permission: str) -> tuple[str, ...] | None:
        """Conference globs the permission is limited to, `None` when it applies everywhere."""
        patterns: list[str] = []
        for grant in self.roles:
            if permission in grant.permissions:
                if grant.conferences is None:
                    return None
                patterns += [p for p in grant.conferences if p not in patterns]
        return tuple(patterns)


class Authorizer:
    """Decisions for one loaded policy; group membership comes from `resolver`."""

    def __init__(self, policy: Policy, resolver: MembershipResolver | None = None) -> None:
        if policy.uses_groups and resolver is None:
            raise ValueError("the policy names user groups, so a membership resolver is needed")
        self._policy = policy
        self._resolver = resolver

    @property
    def policy(self) -> Policy:
        return self._policy

    async def check(
        self,
        user_id: str,
        permission: str,
        *,
        channel_id: str | None,
        conference: ConferenceScope | None = None,
        shown: str | None = None,
    ) -> Decision:
        """With `conference=None`: does the user hold the permission for at least one conference.
        `shown` is how a denial names the conference (what the user typed: an alias must not
        reveal the name of a conference out of their scope)."""
        if permission in ALWAYS_ALLOWED:
            return Decision.allow(permission)
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        if not self._policy.accepts_channel(channel_id):
            return Decision.deny(permission, "channel_not_allowed", self._channel_detail())
        decision = self._decide(permission, conference, self._policy.roles_of(user_id), shown)
        if decision.allowed or not self._groups_could_grant(permission):
            return decision
        try:
            groups = await self._groups_of(user_id)
        except MembershipUnavailable as exc:
            detail = render("{}, so it was refused", str(exc))
            return Decision.deny(permission, "membership_unavailable", detail)
        return self._decide(permission, conference, self._policy.roles_of(user_id, groups), shown)

    async def grant(self, user_id: str, permission: str, *, channel_id: str | None) -> Grant:
        """The user's grant of `permission` here, with its conference scope; raises `Refused`
        with the decision when they hold it nowhere (or not in this channel). Group membership
        is asked only when the user's own roles do not already grant it everywhere."""
        if permission in ALWAYS_ALLOWED:
            return Grant(permission=permission, conferences=None)
        decision = await self.check(user_id, permission, channel_id=channel_id)
        if not decision.allowed:
            raise Refused(decision)
        names = self._policy.roles_of(user_id)
        if _scope_of(self._holding(permission, names)) is not None and self._groups_could_grant(
            permission
        ):
            with contextlib.suppress(MembershipUnavailable):  # own roles grant it, as checked
                names = self._policy.roles_of(user_id, await self._groups_of(user_id))
        return Grant(permission=permission, conferences=_scope_of(self._holding(permission, names)))

    async def holds_role(self, user_id: str, roles: Iterable[str]) -> bool:
        """Whether the user holds one of `roles` (directly, through "*", or through a user
        group); False when Slack cannot say which groups they are in (fail closed)."""
        wanted = set(roles)
        if wanted.intersection(self._policy.roles_of(user_id)):
            return True
        if not wanted.intersection(self._policy.roles_through_groups):
            return False
        try:
            groups = await self._groups_of(user_id)
        except MembershipUnavailable:
            return False
        return bool(wanted.intersection(self._policy.roles_of(user_id, groups)))

    def _holding(self, permission: str, names: Iterable[str]) -> list[Role]:
        return [self._role(name) for name in names if self._role(name).grants(permission)]

    async def profile(self, user_id: str) -> UserProfile:
        """The user's roles; if Slack cannot be asked, only the roles held without groups."""
        groups: frozenset[str] = frozenset()
        error = None
        if self._policy.uses_groups:
            try:
                groups = await self._groups_of(user_id)
            except MembershipUnavailable as exc:
                error = str(exc)
        names = self._policy.roles_of(user_id, groups)
        grants = tuple(self._grant(name) for name in names)
        return UserProfile(
            user_id=user_id,
            roles=grants,
            permissions=_union(grant.permissions for grant in grants),
            channels=self._policy.channels,
            membership_error=error,
        )

    def _decide(
        self,
        permission: str,
        conference: ConferenceScope | None,
        names: Iterable[str],
        shown: str | None = None,
    ) -> Decision:
        holding = [self._role(name) for name in names if self._role(name).grants(permission)]
        if not holding:
            needed = render("you need the {} permission", code(permission))
            return Decision.deny(permission, "missing_permission", needed)
        if conference is None or any(role.covers(conference) for role in holding):
            return Decision.allow(permission)
        return Decision.deny(
            permission, "out_of_scope", _scope_detail(permission, shown or conference.name, holding)
        )

    def _groups_could_grant(self, permission: str) -> bool:
        return any(self._role(n).grants(permission) for n in self._policy.roles_through_groups)

    async def _groups_of(self, user_id: str) -> frozenset[str]:
        assert self._resolver is not None  # guaranteed by __init__ when groups are used
        return await self._resolver.groups_of(user_id)

    def _role(self, name: str) -> Role:
        return self._policy.roles[name]

    def _grant(self, name: str) -> RoleGrant:
        role = self._role(name)
        return RoleGrant(role=name, permissions=role.permissions, conferences=role.conferences)

    def _channel_detail(self) -> Mrkdwn:
        channels = join(", ", (channel(c) for c in self._policy.channels or ()))
        return render("commands are only accepted in {}", channels)


class Refused(Exception):
    """The user may not do this: `decision` says why."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.detail)
        self.decision = decision


def _scope_of(roles: list[Role]) -> tuple[str, ...] | None:
    """Where roles grant a permission together: None when one of them grants it everywhere."""
    if any(role.conferences is None for role in roles):
        return None
    return tuple(dict.fromkeys(p for role in roles for p in role.conferences or ()))


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    held = {name for group in groups for name in group}
    return tuple(name for name in PERMISSIONS if name in held)


def _scope_detail(permission: str, conference: str, roles: list[Role]) -> Mrkdwn:
    patterns = dict.fromkeys(p for role in roles for p in role.conferences or ())
    return render(
        "your {} permission does not cover conference {} (it covers {})",
        code(permission),
        conference,
        join(", ", (code(pattern) for pattern in patterns)),
    )
