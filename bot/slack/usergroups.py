"""Slack user-group membership, read through slack-sdk and cached for a bounded time.

The whole directory (which groups contain which users) is fetched in one `usergroups.list`
call with `include_users`; a group whose member list comes back missing or shorter than its
`user_count` is completed with `usergroups.users.list`. The result is kept for at most `ttl`
seconds; concurrent checks share one refresh. When Slack cannot be asked, no stale answer is
used: `MembershipUnavailable` is raised and the caller denies (fail closed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient


class MembershipUnavailable(Exception):
    """Slack could not be asked for user-group membership; the message says why (no token)."""


class MembershipResolver(Protocol):
    async def groups_of(self, user_id: str) -> frozenset[str]:
        """The IDs and `@handles` (lower case) of every user group containing the user."""
        ...


Directory = dict[str, frozenset[str]]


class SlackUserGroups:
    """`MembershipResolver` backed by the Slack Web API (needs the `usergroups:read` scope)."""

    def __init__(
        self,
        client: AsyncWebClient,
        ttl: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._directory: Directory | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._blocked: tuple[float, MembershipUnavailable] | None = None

    async def groups_of(self, user_id: str) -> frozenset[str]:
        directory = await self._current()
        return directory.get(user_id, frozenset())

    def invalidate(self) -> None:
        """Forget the cached directory; the next check asks Slack again."""
        self._directory = None

    async def _current(self) -> Directory:
        async with self._lock:
            if self._directory is None or self._clock() - self._fetched_at >= self._ttl:
                self._directory = None
                self._raise_if_rate_limited()
                self._directory = await self._fetch()
                self._fetched_at = self._clock()
            return self._directory

    def _raise_if_rate_limited(self) -> None:
        """While Slack's Retry-After runs, answer from the last refusal instead of asking again."""
        if self._blocked is not None:
            until, error = self._blocked
            if self._clock() < until:
                raise error
            self._blocked = None

    async def _fetch(self) -> Directory:
        groups = await self._call("usergroups.list", include_users=True, include_count=True)
        members: dict[str, set[str]] = {}
        for group in groups.get("usergroups", []):
            names = _names(group)
            for user in await self._users_of(group):
                members.setdefault(user, set()).update(names)
        return {user: frozenset(names) for user, names in members.items()}

    async def _users_of(self, group: Mapping[str, Any]) -> list[str]:
        users = group.get("users")
        count = group.get("user_count")
        complete = users is not None and (not isinstance(count, int) or len(users) >= count)
        if complete or count == 0:
            return list(users or [])
        reply = await self._call("usergroups.users.list", usergroup=group["id"])
        return list(reply.get("users", []))

    async def _call(self, method: str, **params: Any) -> Mapping[str, Any]:
        try:
            response = await self._client.api_call(method, http_verb="GET", params=params)
        except SlackApiError as exc:
            error = MembershipUnavailable(_api_failure(method, exc))
            retry_after = _retry_after(exc)
            if retry_after:
                self._blocked = (self._clock() + retry_after, error)
            raise error from exc
        except (SlackClientError, aiohttp.ClientError, OSError) as exc:
            raise MembershipUnavailable(
                f"Slack could not be asked for user-group membership ({method}: {_transport(exc)})"
            ) from exc
        data = response.data
        if not isinstance(data, Mapping):
            raise MembershipUnavailable(
                f"Slack could not be asked for user-group membership ({method}: unexpected reply)"
            )
        return data


def _names(group: Mapping[str, Any]) -> set[str]:
    names = {str(group["id"])}
    if group.get("handle"):
        names.add(f"@{str(group['handle']).lower()}")
    return names


def _api_failure(method: str, exc: SlackApiError) -> str:
    response = exc.response
    data = response.data if isinstance(response.data, Mapping) else {}
    error = str(data.get("error") or f"HTTP {response.status_code}")
    if error == "missing_scope":
        error += f", the app needs {data.get('needed') or 'usergroups:read'}"
    elif response.status_code == 429:
        retry = _retry_after(exc)
        error = f"rate limited, retry after {retry:g} s" if retry else "rate limited"
    return f"Slack could not be asked for user-group membership ({method}: {error})"


def _retry_after(exc: SlackApiError) -> float | None:
    if exc.response.status_code != 429:
        return None
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    try:
        return float(headers["retry-after"])
    except (KeyError, TypeError, ValueError):
        return None


def _transport(exc: Exception) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
