"""What the Slack Web API stand-in knows and remembers (see `bot.sandbox.slack_api`).

The server runs in another thread of the same process, so every access goes through a lock and
readers get copies.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.sandbox.slack_socket import SocketHub

DEFAULT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "users:read",
    "usergroups:read",
    "channels:read",
    "groups:read",
)

MessageKind = Literal["postMessage", "postEphemeral", "update", "response"]


@dataclass(frozen=True)
class Call:
    """One request: the method (`response_url` for response URL posts), its parameters
    (token removed), when it arrived (`time.monotonic()`), and the HTTP status answered."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass(frozen=True)
class PostedMessage:
    """A message the bot sent, whichever way: postMessage, postEphemeral, update, response_url."""

    kind: MessageKind
    channel: str | None
    text: str
    blocks: list[Any] = field(default_factory=list)
    user: str | None = None
    ephemeral: bool = False
    ts: str | None = None
    thread_ts: str | None = None
    replace_original: bool = False
    delete_original: bool = False

    @property
    def shown(self) -> str:
        """`text` as a Slack client shows it: `&lt;` `&gt;` `&amp;` undone (mentions, links and
        formatting marks stay as they were sent)."""
        return self.text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class UserGroup:
    id: str
    handle: str
    users: tuple[str, ...] = ()
    name: str = ""


@dataclass
class _Failure:
    status: int
    retry_after: float | None
    error: str | None
    times: int


class MethodError(Exception):
    """Raised by a method handler: answered as `{"ok": false, "error": code}`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class SlackState:
    """Everything the stand-in knows and remembers; safe to use from any thread."""

    def __init__(
        self,
        bot_token: str = "xoxb-0000000000-test-bot-token",
        *,
        team_id: str = "T0TEST001",
        bot_user_id: str = "U0BOT0001",
        bot_id: str = "B0BOT0001",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        app_token: str = "xapp-1-A0PEXBOT1-0000-test-app-token",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.socket = SocketHub()
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.scopes = tuple(scopes)
        self.base_url = ""
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget calls, messages, failures, latency, users, channels and user groups; close
        every Socket Mode link."""
        self.socket.reset()
        with self._lock:
            self._calls: list[Call] = []
            self._messages: list[PostedMessage] = []
            self._failures: dict[str, list[_Failure]] = {}
            self._latency: dict[str, float] = {}
            self._usergroups: list[UserGroup] = []
            self.list_user_cap: int | None = None
            self._users: dict[str, dict[str, Any]] = {}
            self._channels: dict[str, dict[str, Any]] = {}
            self._responses: dict[str, tuple[str | None, str | None]] = {}
            self._ids = itertools.count(1)

    # --- what tests read ---------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self) -> list[PostedMessage]:
        with self._lock:
            return list(self._messages)

    # --- what tests set ----------------------------------------------------------------

    def set_usergroups(
        self,
        groups: Iterable[UserGroup | Mapping[str, Any]],
        *,
        list_user_cap: int | None = None,
    ) -> None:
        """e.g. `[{"id": "S0AVTEAM1", "handle": "av-team", "users": ["U1", "U2"]}]`.

        `list_user_cap`: `usergroups.list` names at most that many users per group (its
        `user_count` stays true), as a big workspace's reply may; `usergroups.users.list` is whole.
        """
        parsed = [g if isinstance(g, UserGroup) else _usergroup(g) for g in groups]
        with self._lock:
            self._usergroups = parsed
            self.list_user_cap = list_user_cap

    def set_user(self, user_id: str, name: str, real_name: str = "", **extra: Any) -> None:
        with self._lock:
            self._users[user_id] = _user(self.team_id, user_id, name, real_name or name) | extra

    def set_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> None:
        with self._lock:
            self._channels[channel_id] = _channel(channel_id, name, is_private)

    def fail(
        self,
        method: str,
        status: int = 500,
        *,
        retry_after: float | None = None,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` fail: HTTP `status` (429 carries
        `Retry-After`, 1 s unless given), or with `error` an HTTP 200 `ok: false` reply."""
        if status == 429 and retry_after is None:
            retry_after = 1
        failure = _Failure(200 if error else status, retry_after, error, times)
        with self._lock:
            self._failures.setdefault(method, []).append(failure)

    def set_latency(self, method: str, seconds: float) -> None:
        """Delay every answer of `method` (`"*"`: every method) by `seconds`."""
        with self._lock:
            self._latency[method] = seconds

    def response_url(
        self, token: str, *, channel: str | None = None, user: str | None = None
    ) -> str:
        """A `response_url` for a payload; posts to it are recorded as messages of that channel."""
        with self._lock:
            self._responses[token] = (channel, user)
            return f"{self.base_url}/response/{token}"

    # --- used by the app (bot.sandbox.slack_api) -------------------------------------------

    def record(self, method: str, params: dict[str, Any]) -> tuple[int, float | None, str | None]:
        """Remember the call; returns the injected failure to answer with, if any."""
        with self._lock:
            pending = self._failures.get(method, [])
            failure = pending[0] if pending else None
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    pending.pop(0)
            status = failure.status if failure else 200
            self._calls.append(Call(method, params, time.monotonic(), status))
            if failure is None:
                return 200, None, None
            return failure.status, failure.retry_after, failure.error

    def latency_of(self, method: str) -> float:
        with self._lock:
            return self._latency.get(method, self._latency.get("*", 0.0))

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def next_ts(self) -> str:
        return f"{int(time.time())}.{self.next_id():06d}"

    def add_message(self, message: PostedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def response_context(self, token: str) -> tuple[str | None, str | None]:
        with self._lock:
            return self._responses.get(token, (None, None))

    def usergroups(self) -> list[UserGroup]:
        with self._lock:
            return list(self._usergroups)

    def user_info(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            known = self._users.get(user_id)
        if known is not None:
            return known
        if user_id[:1] not in ("U", "W") or not user_id.isalnum():
            raise MethodError("user_not_found")
        return _user(self.team_id, user_id, user_id.lower(), user_id)

    def channel_info(self, channel_id: str) -> dict[str, Any]:
        with self._lock:
            known = self._channels.get(channel_id)
        if known is not None:
            return known
        if channel_id[:1] not in ("C", "G", "D") or not channel_id.isalnum():
            raise MethodError("channel_not_found")
        return _channel(channel_id, channel_id.lower(), channel_id.startswith("G"))


def _usergroup(data: Mapping[str, Any]) -> UserGroup:
    return UserGroup(
        id=data["id"],
        handle=data["handle"],
        users=tuple(data.get("users", ())),
        name=data.get("name", ""),
    )


def _user(team_id: str, user_id: str, name: str, real_name: str) -> dict[str, Any]:
    profile = {"display_name": name, "real_name": real_name}
    return {
        "id": user_id,
        "team_id": team_id,
        "name": name,
        "real_name": real_name,
        "deleted": False,
        "is_bot": False,
        "tz": "Europe/London",
        "profile": profile,
    }


def _channel(channel_id: str, name: str, is_private: bool) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": name,
        "is_channel": channel_id.startswith("C"),
        "is_group": channel_id.startswith("G"),
        "is_im": channel_id.startswith("D"),
        "is_private": is_private,
        "is_member": True,
        "is_archived": False,
    }
