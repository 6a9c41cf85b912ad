"""A local stand-in for the Slack Web API, spoken over real HTTP (tests, demo, benchmarks).

Point slack-sdk (or Bolt) at `SlackStandIn.url` (`http://127.0.0.1:<port>/api/`). It answers the
methods pexbot uses with Slack-shaped JSON, checks the bearer token (`invalid_auth` otherwise),
accepts form, query or JSON parameters like Slack, records every call in order, and can be told
to fail (429 with `Retry-After`, 500, or an `ok: false` error) or to be slow. `POST
/response/<token>` stands in for a slash command's `response_url`. `apps.connections.open`
opens Socket Mode links to `state.socket` (`bot.sandbox.slack_socket`).

    with SlackStandIn() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.url)
        ...
        slack.state.messages()
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.sandbox.serve import BackgroundServer
from bot.sandbox.slack_state import (
    Call,
    MessageKind,
    MethodError,
    PostedMessage,
    SlackState,
    UserGroup,
)

__all__ = ["Call", "PostedMessage", "SlackStandIn", "SlackState", "UserGroup", "create_app"]

Params = dict[str, Any]
Method = Callable[[SlackState, Params], dict[str, Any]]
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")


# --- methods: each returns the reply without "ok", or raises MethodError -------------------


def _auth_test(state: SlackState, params: Params) -> dict[str, Any]:
    return {
        "url": "https://pexbot-test.slack.com/",
        "team": "Pexbot Test",
        "user": "pexbot",
        "team_id": state.team_id,
        "user_id": state.bot_user_id,
        "bot_id": state.bot_id,
        "is_enterprise_install": False,
    }


def _post_message(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "channel")
    _has_content(params)
    ts = state.next_ts()
    state.add_message(_message("postMessage", params, ts=ts))
    return {"channel": params["channel"], "ts": ts, "message": _bot_message(state, params, ts)}


def _post_ephemeral(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "channel", "user")
    _has_content(params)
    ts = state.next_ts()
    state.add_message(_message("postEphemeral", params, ts=ts, ephemeral=True))
    return {"message_ts": ts}


def _update(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "channel", "ts")
    state.add_message(_message("update", params, ts=params["ts"]))
    return {
        "channel": params["channel"],
        "ts": params["ts"],
        "text": params.get("text", ""),
        "message": _bot_message(state, params, params["ts"]),
    }


def _delete(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "channel", "ts")
    return {"channel": params["channel"], "ts": params["ts"]}


def _views_open(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "trigger_id")
    return {"view": _view(state, params, f"V{state.next_id():010d}")}


def _views_update(state: SlackState, params: Params) -> dict[str, Any]:
    view_id = params.get("view_id") or params.get("external_id")
    if not view_id:
        raise MethodError("invalid_arguments")
    return {"view": _view(state, params, str(view_id))}


def _users_info(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "user")
    return {"user": state.user_info(str(params["user"]))}


def _conversations_info(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "channel")
    return {"channel": state.channel_info(str(params["channel"]))}


def _usergroups_list(state: SlackState, params: Params) -> dict[str, Any]:
    with_users = _flag(params, "include_users")
    return {"usergroups": [_usergroup(state, g, with_users) for g in state.usergroups()]}


def _usergroups_users_list(state: SlackState, params: Params) -> dict[str, Any]:
    _required(params, "usergroup")
    for group in state.usergroups():
        if group.id == params["usergroup"]:
            return {"users": list(group.users)}
    raise MethodError("no_such_subteam")


METHODS: dict[str, Method] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.postEphemeral": _post_ephemeral,
    "chat.update": _update,
    "chat.delete": _delete,
    "views.open": _views_open,
    "views.push": _views_open,
    "views.update": _views_update,
    "users.info": _users_info,
    "conversations.info": _conversations_info,
    "usergroups.list": _usergroups_list,
    "usergroups.users.list": _usergroups_users_list,
}


# --- shapes ------------------------------------------------------------------------------


def _message(
    kind: MessageKind, params: Params, *, ts: str | None, ephemeral: bool = False
) -> PostedMessage:
    return PostedMessage(
        kind=kind,
        channel=params.get("channel"),
        text=str(params.get("text") or ""),
        blocks=list(params.get("blocks") or []),
        user=params.get("user"),
        ephemeral=ephemeral,
        ts=ts,
        thread_ts=params.get("thread_ts"),
    )


def _bot_message(state: SlackState, params: Params, ts: str) -> dict[str, Any]:
    return {
        "type": "message",
        "user": state.bot_user_id,
        "bot_id": state.bot_id,
        "text": params.get("text", ""),
        "blocks": params.get("blocks") or [],
        "ts": ts,
    }


def _view(state: SlackState, params: Params, view_id: str) -> dict[str, Any]:
    view = params.get("view")
    if not isinstance(view, dict) or "type" not in view:
        raise MethodError("invalid_arguments")
    return {
        **view,
        "id": view_id,
        "team_id": state.team_id,
        "app_id": "A0TEST001",
        "bot_id": state.bot_id,
        "root_view_id": view_id,
        "hash": f"{state.next_id()}.hash",
        "state": {"values": {}},
    }


def _usergroup(state: SlackState, group: UserGroup, with_users: bool) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "id": group.id,
        "team_id": state.team_id,
        "is_usergroup": True,
        "name": group.name or group.handle,
        "handle": group.handle,
        "date_delete": 0,
        "user_count": len(group.users),
    }
    if with_users:
        shape["users"] = list(group.users)[: state.list_user_cap]
    return shape


def _flag(params: Mapping[str, Any], name: str) -> bool:
    return params.get(name) in (True, 1, "1", "true", "True")


def _required(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if not params.get(name):
            raise MethodError(f"{name}_not_found" if name == "channel" else "invalid_arguments")


def _has_content(params: Mapping[str, Any]) -> None:
    if not (params.get("text") or params.get("blocks") or params.get("attachments")):
        raise MethodError("no_text")


# --- HTTP ----------------------------------------------------------------------------------


async def _params(request: Request) -> tuple[Params, str | None, str | None]:
    """Query, form or JSON parameters (JSON-encoded form fields decoded), the token from
    either place, and the token from the Authorization header alone."""
    params: Params = dict(request.query_params)
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise MethodError("invalid_json") from None
        params.update(body if isinstance(body, dict) else {})
    elif request.method == "POST":
        form = await request.form()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    for key in _JSON_FIELDS:
        if isinstance(params.get(key), str) and params[key][:1] in ("[", "{"):
            params[key] = json.loads(params[key])
    auth = request.headers.get("authorization", "")
    in_params = params.pop("token", None)
    bearer = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
    return params, bearer or in_params, bearer


def _error(code: str, status: int = 200, retry_after: float | None = None) -> JSONResponse:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return JSONResponse({"ok": False, "error": code}, status_code=status, headers=headers)


def _answer(
    state: SlackState, name: str, params: Params, token: str | None, bearer: str | None
) -> JSONResponse:
    status, retry_after, error = state.record(name, params)
    if status != 200 or error:
        default = "ratelimited" if status == 429 else "fatal_error"
        return _error(error or default, status, retry_after)
    if name == "apps.connections.open":  # Slack takes the app token in the header only
        return _connections_open(state, bearer) if bearer else _error("not_authed")
    if not token:
        return _error("not_authed")
    if token != state.bot_token:
        return _error("invalid_auth")
    method = METHODS.get(name)
    if method is None:
        return _error("unknown_method")
    try:
        reply = method(state, params)
    except MethodError as exc:
        return _error(exc.code)
    headers = {"x-oauth-scopes": ",".join(state.scopes)} if name == "auth.test" else None
    return JSONResponse({"ok": True, **reply}, headers=headers)


def _connections_open(state: SlackState, token: str) -> JSONResponse:
    """Socket Mode: only the app-level token may open a link; a fresh URL for each."""
    if token != state.app_token:
        return _error("not_allowed_token_type" if token == state.bot_token else "invalid_auth")
    return JSONResponse({"ok": True, "url": state.socket.new_url()})


def create_app(state: SlackState) -> Starlette:
    async def api(request: Request) -> Response:
        name = request.path_params["method"]
        try:
            params, token, bearer = await _params(request)
        except MethodError as exc:
            return _error(exc.code)
        await asyncio.sleep(state.latency_of(name))
        return _answer(state, name, params, token, bearer)

    async def response_url(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            body = await request.json()
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        status, _, _ = state.record("response_url", {"token": token, **body})
        if status != 200:
            return PlainTextResponse("server_error", status_code=status)
        state.add_message(_response_message(state, token, body))
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/api/{method}", api, methods=["GET", "POST"]),
            Route("/response/{token}", response_url, methods=["POST"]),
        ]
    )


def _response_message(state: SlackState, token: str, body: dict[str, Any]) -> PostedMessage:
    channel, user = state.response_context(token)
    return PostedMessage(
        kind="response",
        channel=channel,
        text=str(body.get("text") or ""),
        blocks=list(body.get("blocks") or []),
        user=user,
        ephemeral=body.get("response_type") != "in_channel",
        replace_original=bool(body.get("replace_original")),
        delete_original=bool(body.get("delete_original")),
    )


class SlackStandIn:
    """The stand-in served on a local port: `url` (ends with `/api/`), `bot_token`, `state`."""

    def __init__(self, state: SlackState | None = None, *, host: str = "127.0.0.1", port: int = 0):
        self.state = state or SlackState()
        self._server = BackgroundServer(create_app(self.state), host=host, port=port)
        self.state.base_url = self._server.url

    @property
    def url(self) -> str:
        return f"{self._server.url}/api/"

    @property
    def bot_token(self) -> str:
        return self.state.bot_token

    def response_url(
        self, token: str, *, channel: str | None = None, user: str | None = None
    ) -> str:
        return self.state.response_url(token, channel=channel, user=user)

    def start(self) -> SlackStandIn:
        self._server.start()
        self.state.socket.start()
        return self

    def stop(self) -> None:
        self.state.socket.stop()
        self._server.stop()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
