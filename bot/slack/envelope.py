"""What a Slack request to /slack/events says, read once, as Bolt reads it (`for_bolt`), and
whether it has the shape Bolt and the listeners expect (`problem`).

`for_bolt` builds Bolt's own request (its public `AsyncBoltRequest`) and checks the payload Bolt
read, so the body is parsed once. Bolt's reading has one slip: it takes any form body containing
the text "payload" for an interaction (its `parse_body`, still in 1.30) and finds nothing in it,
so a slash command whose text, channel or user name holds that word would go unanswered
(tests/reliability/test_payload_fuzz.py). Such a body is read here (`read`) and handed to Bolt
as the same fields in JSON, which Bolt reads as they are. (The signature was checked on the
body as sent, before: `bot.slack.server`.)

Slack's own payloads always have the expected shape. A signed request that does not (a client
bug, or someone holding the signing secret) would raise inside Bolt's matchers or a listener and
be answered 500 with a traceback in the log; `problem` finds it first, so it is refused with 400
and nothing runs. Only the keys something reads are checked, and only their types: Slack may add
others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.request.async_request import AsyncBoltRequest

Object = dict[str, Any]


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Someone(_Part):
    id: str


class _Action(_Part):
    action_id: str


class _State(_Part):
    values: dict[str, dict[str, Any]] = {}


class _View(_Part):
    type: str
    callback_id: str = ""
    private_metadata: str = ""
    state: _State | None = None


class _Payload(_Part):
    """Every key Bolt's context or a listener reads, when present."""

    type: str | None = None
    user: _Someone | None = None
    team: Object | None = None
    enterprise: Object | None = None
    channel: Object | None = None
    container: Object | None = None
    message: Object | None = None
    event: Object | None = None
    authorizations: list[Object] | None = None
    view: _View | None = None
    actions: list[_Action] | None = Field(default=None, min_length=1)
    action_id: str | None = None
    value: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None


# Slack sends these as objects (or lists) or leaves them out, and Bolt reads them so when present.
_NEVER_NULL = ("user", "view", "actions", "container", "message", "event", "authorizations")
# The keys `_Payload` reads as objects or lists.
_STRUCTURED = frozenset(
    name
    for name, field in _Payload.model_fields.items()
    if field.annotation not in (str, str | None)
)
_ONLY_STR = frozenset({str})
# What each kind of interaction the app answers cannot do without.
_REQUIRED = {
    "block_actions": ("user", "actions"),
    "block_suggestion": ("user", "action_id"),
    "view_submission": ("user", "view"),
    "view_closed": ("user", "view"),
}


def read(body: str, content_type: str | None) -> Any:
    """The payload: a JSON body, the JSON in a form's `payload` field, or the form's fields.
    Raises ValueError when the JSON is not JSON."""
    if _is_json(body, content_type):
        return json.loads(body) if body else {}
    form = _fields(body)
    return json.loads(form["payload"]) if "payload" in form else form


class Malformed(ValueError):
    """A signed request whose payload cannot be handled; the message says why."""


def problem(payload: Any) -> str | None:
    """Why this payload cannot be handled, or None when it can."""
    if not isinstance(payload, dict):
        return "the payload is not a JSON object"
    if _plain(payload):
        return None
    nulls = [key for key in _NEVER_NULL if key in payload and payload[key] is None]
    if nulls:
        return f"{nulls[0]}: null"
    try:
        parsed = _Payload.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    missing = [key for key in _REQUIRED.get(parsed.type or "", ()) if getattr(parsed, key) is None]
    return f"a {parsed.type} payload without {' or '.join(missing)}" if missing else None


def _plain(payload: Object) -> bool:
    """A flat object of strings (a slash command's form) with none of the keys `_Payload` wants
    as objects or lists, of no type that requires them: the model would find nothing wrong."""
    return (
        payload.keys().isdisjoint(_STRUCTURED)
        and payload.get("type") not in _REQUIRED
        and _ONLY_STR.issuperset(map(type, payload.values()))  # in C: runs for every request
    )


def for_bolt(body: str, headers: dict[str, str], query: str | None) -> AsyncBoltRequest:
    """The request as Bolt reads it, its payload checked (`problem`): the body as sent, unless
    Bolt would misread it (a form that mentions "payload" without being an interaction): then
    its fields as JSON. Raises `Malformed` when the payload cannot be handled."""
    try:
        request = AsyncBoltRequest(body=body, query=query, headers=_as_bolt_reads(headers))
    except Exception:  # what Bolt's reading of an unchecked payload raises: our reading says why
        raise Malformed(_unreadable(body, headers.get("content-type"))) from None
    bolt_read_json = request.content_type == "application/json" or body.startswith("{")
    if not request.body and "payload" in body and not bolt_read_json:
        fields = _fields(body)
        if "payload" not in fields:  # misread: the form's own fields, in JSON
            json_headers = {**headers, "content-type": "application/json"}
            request = AsyncBoltRequest(
                body=json.dumps(fields), query=query, headers=_as_bolt_reads(json_headers)
            )
    why = problem(request.body)
    if why is not None:
        raise Malformed(why)
    return request


def _as_bolt_reads(headers: dict[str, str]) -> dict[str, str | Sequence[str]]:
    return cast(dict[str, str | Sequence[str]], headers)  # Bolt only reads them


def _unreadable(body: str, content_type: str | None) -> str:
    try:
        payload = read(body, content_type)
    except (ValueError, RecursionError):  # not JSON, or JSON nested past Python's limit
        payload = None
    return problem(payload) or "Bolt could not read it"


def _is_json(body: str, content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip() == "application/json" or body.startswith("{")


def _fields(body: str) -> dict[str, str]:
    return dict(parse_qsl(body, keep_blank_values=True))
