"""Tastypie conventions shared by the status, configuration and command APIs: list pagination
and filters, request bodies (JSON, form or multipart) and the JSON envelopes."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .errors import ApiError

DEFAULT_LIMIT = 20
_RESERVED = {"limit", "offset", "format", "order_by", "username", "api_key"}
_LOOKUPS = {
    "exact", "iexact", "contains", "icontains", "startswith", "istartswith",
    "endswith", "iendswith", "in", "isnull", "gt", "gte", "lt", "lte",
}  # fmt: skip
_ORDERINGS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_JSON_TYPES = {"", "application/json"}
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
UPLOAD_HEAD = 512

Objects = Callable[[], Sequence[Mapping[str, Any]]]
"""Produces a resource's current objects, already serialized."""


@dataclass(frozen=True)
class Upload:
    """An uploaded file: its name, size and first bytes (the rest is never read)."""

    filename: str
    size: int
    head: bytes


def success(message: str = "", data: Any = None, status_code: int = 202) -> JSONResponse:
    """The command API's success envelope."""
    return JSONResponse({"status": "success", "message": message, "data": data}, status_code)


def not_found() -> Response:
    """Tastypie's answer for an unknown detail id: 404, empty body."""
    return Response(status_code=404)


async def api_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler turning an ApiError into its JSON body."""
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, exc.status_code)


async def read_fields(request: Request) -> dict[str, Any]:
    """A command's fields from a JSON, form-encoded or multipart body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        async with request.form() as form:
            fields: dict[str, Any] = {}
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    head = await value.read(UPLOAD_HEAD)
                    fields[key] = Upload(value.filename or "", value.size or 0, head)
                else:
                    fields[key] = value
            return fields
    raw = await request.body()
    if content_type not in _JSON_TYPES and not content_type.endswith("+json"):
        raise ApiError.general(
            f"The format indicated '{content_type}' had no available deserialization method."
        )
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError.general("Malformed JSON in the request body.") from None
    if not isinstance(data, dict):
        raise ApiError.general("The request body must be a JSON object.")
    return data


def resource_routes(path: str, objects: Objects, fields: Collection[str]) -> list[BaseRoute]:
    """GET routes for a read-only resource: `path` lists, `path<id>/` shows one (404 if none)."""

    async def listing(request: Request) -> Response:
        return list_response(request, objects(), fields)

    async def detail(request: Request) -> Response:
        wanted = request.path_params["key"]
        found = next((obj for obj in objects() if str(obj["id"]) == wanted), None)
        return JSONResponse(found) if found is not None else not_found()

    return [
        Route(path, listing, methods=["GET"]),
        Route(f"{path}{{key}}/", detail, methods=["GET"]),
    ]


def list_response(
    request: Request, objects: Sequence[Mapping[str, Any]], fields: Collection[str]
) -> JSONResponse:
    """Filter, order and paginate `objects` as Tastypie does for a list GET."""
    params = request.query_params
    selected = [obj for obj in objects if _passes_filters(obj, params.multi_items(), fields)]
    for key in reversed(params.getlist("order_by")):
        name = key.removeprefix("-")
        if name not in fields:
            raise ApiError.general(f"No matching '{name}' field for ordering on.")
        selected.sort(key=lambda obj: _sort_key(obj.get(name)), reverse=key.startswith("-"))
    limit = _int_param(params.get("limit"), DEFAULT_LIMIT, "limit")
    offset = _int_param(params.get("offset"), 0, "offset")
    total = len(selected)
    page = selected[offset : offset + limit] if limit else selected[offset:]
    has_next = bool(limit) and offset + limit < total
    has_previous = bool(limit) and offset >= limit
    meta = {
        "limit": limit,
        "next": _page_url(request, limit, offset + limit) if has_next else None,
        "offset": offset,
        "previous": _page_url(request, limit, offset - limit) if has_previous else None,
        "total_count": total,
    }
    return JSONResponse({"meta": meta, "objects": list(page)})


def _int_param(text: str | None, default: int, name: str) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ApiError.general(
            f"Invalid {name} '{text}' provided. Please provide a positive integer."
        )
    return value


def _page_url(request: Request, limit: int, offset: int) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset")]
    return f"{request.url.path}?{urlencode([*kept, ('limit', limit), ('offset', offset)])}"


def _passes_filters(
    obj: Mapping[str, Any], items: Sequence[tuple[str, str]], fields: Collection[str]
) -> bool:
    for key, query in items:
        bits = key.split("__")
        if bits[0] in _RESERVED or bits[0] not in fields:
            continue  # Tastypie ignores parameters that are not fields
        lookup = bits.pop() if len(bits) > 1 and bits[-1] in _LOOKUPS else "exact"
        values = _resolve(obj.get(bits[0]), bits[1:], bits[0])
        if not any(_matches(value, lookup, query) for value in values):
            return False
    return True


def _resolve(value: Any, path: list[str], name: str) -> list[Any]:
    """The values at `path` below a field; lists of objects match if any item does."""
    if not path:
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        return [found for item in value for found in _resolve(item, path, name)]
    if isinstance(value, dict) and path[0] in value:
        return _resolve(value[path[0]], path[1:], name)
    raise ApiError.general(f"The '{name}' field does not support relations.")


def _matches(value: Any, lookup: str, query: str) -> bool:
    if lookup == "isnull":
        return (value is None) == (query.lower() in ("true", "1"))
    if lookup == "in":
        return any(_matches(value, "exact", part) for part in query.split(","))
    if value is None:
        return False
    text = _text(value)
    if lookup in _ORDERINGS:
        left, right = _comparable(value, query)
        return bool(_ORDERINGS[lookup](left, right))
    if lookup.startswith("i"):
        text, query, lookup = text.casefold(), query.casefold(), lookup[1:]
    if isinstance(value, bool):
        query = {"1": "true", "0": "false"}.get(query, query.lower())
    if lookup == "exact":
        return text == query
    if lookup == "contains":
        return query in text
    if lookup == "startswith":
        return text.startswith(query)
    return text.endswith(query)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _comparable(value: Any, query: str) -> tuple[Any, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return value, float(query)
        except ValueError:
            pass
    return _text(value), query


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, _text(value) if isinstance(value, bool) else value)
