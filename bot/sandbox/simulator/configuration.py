"""Configuration API: services, aliases, locations, sync templates and backup files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from .backups import BACKUP_PREFIX, Backup, iter_chunks
from .event_sinks import EventSinks
from .event_sinks import routes as event_sink_routes
from .models import Alias, Location, ServiceConfig, SyncTemplate
from .rest import list_response, not_found, resource_routes
from .state import NodeState

PREFIX = "/api/admin/configuration/v1/"

SERVICE_FIELDS = (
    "id", "name", "service_type", "description", "tag", "pin", "guest_pin", "allow_guests",
    "aliases", "resource_uri",
)  # fmt: skip
ALIAS_FIELDS = ("id", "alias", "conference", "description", "creation_time", "resource_uri")
LOCATION_FIELDS = ("id", "name", "description", "event_sinks", "resource_uri")
TEMPLATE_FIELDS = ("id", "name", "description", "resource_uri")
BACKUP_FIELDS = (
    "filename", "date", "build", "version", "size", "type", "sha256sum", "resource_uri",
)  # fmt: skip
ALIASES_CREATED = "2024-11-05T09:12:44.318211"
"""When the seeded aliases were made (naive UTC, as the node writes times)."""


def alias_json(alias: Alias) -> dict[str, Any]:
    return {
        "id": alias.id,
        "alias": alias.alias,
        "conference": f"{PREFIX}conference/{alias.conference_id}/",
        "description": alias.description,
        "creation_time": ALIASES_CREATED,
        "resource_uri": f"{PREFIX}conference_alias/{alias.id}/",
    }


def service_json(node: NodeState, service: ServiceConfig) -> dict[str, Any]:
    aliases = [a for a in node.aliases.values() if a.conference_id == service.id]
    return {
        "id": service.id,
        "name": service.name,
        "service_type": service.service_type,
        "description": service.description,
        "tag": service.tag,
        "pin": "",
        "guest_pin": "",
        "allow_guests": False,
        "aliases": [
            {
                key: alias_json(a)[key]
                for key in ("alias", "conference", "creation_time", "description", "id")
            }
            for a in aliases
        ],
        "resource_uri": f"{PREFIX}conference/{service.id}/",
    }


def named_json(kind: str, item: Location | SyncTemplate) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "resource_uri": f"{PREFIX}{kind}/{item.id}/",
    }


def location_json(location: Location, sinks: list[str]) -> dict[str, Any]:
    """`event_sinks`: the URIs of the event sinks attached to it."""
    body = named_json("system_location", location)
    return {**body, "event_sinks": sinks}


def routes(node: NodeState, sinks: EventSinks) -> list[BaseRoute]:
    """The configuration API's routes (read-only, plus backup download and delete)."""

    def services() -> list[dict[str, Any]]:
        return [service_json(node, s) for s in node.services.values()]

    def aliases() -> list[dict[str, Any]]:
        return [alias_json(a) for a in node.aliases.values()]

    def locations() -> list[dict[str, Any]]:
        return [location_json(loc, sinks.uris(loc.id)) for loc in node.locations.values()]

    def templates() -> list[dict[str, Any]]:
        return [named_json("conference_sync_template", t) for t in node.templates.values()]

    async def backup_list(request: Request) -> Response:
        return list_response(request, [b.to_json() for b in node.backups.files()], BACKUP_FIELDS)

    async def backup_file(request: Request) -> Response:
        filename = request.path_params["filename"]
        backup = next((b for b in node.backups.files() if b.filename == filename), None)
        if backup is None:
            return not_found()
        if request.method == "DELETE":
            node.backups.delete(filename)
            return Response(status_code=204)
        return download(backup, head_only=request.method == "HEAD")

    return [
        *event_sink_routes(sinks),
        *resource_routes(f"{PREFIX}conference/", services, SERVICE_FIELDS),
        *resource_routes(f"{PREFIX}conference_alias/", aliases, ALIAS_FIELDS),
        *resource_routes(f"{PREFIX}system_location/", locations, LOCATION_FIELDS),
        *resource_routes(f"{PREFIX}conference_sync_template/", templates, TEMPLATE_FIELDS),
        Route(BACKUP_PREFIX, backup_list, methods=["GET"]),
        Route(f"{BACKUP_PREFIX}{{filename}}/", backup_file, methods=["GET", "DELETE"]),
    ]


def download(backup: Backup, *, head_only: bool = False) -> Response:
    """The backup's bytes, generated chunk by chunk as the client reads them."""
    headers = {
        "Content-Length": str(backup.size),
        "Content-Disposition": f'attachment; filename="{backup.filename}"',
    }
    if head_only:
        return Response(headers=headers, media_type="application/octet-stream")

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in iter_chunks(backup):
            yield chunk

    return StreamingResponse(chunks(), headers=headers, media_type="application/octet-stream")
