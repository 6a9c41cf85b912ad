"""Status API: live conferences, participants and the management node's own version."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from .models import WAITING_ROOM, Conference, Participant, iso
from .rest import resource_routes
from .state import NodeState

PREFIX = "/api/admin/status/v1/"

CONFERENCE_FIELDS = (
    "id", "name", "service_type", "is_locked", "is_started", "guests_muted", "start_time",
    "tag", "resource_uri",
)  # fmt: skip
PARTICIPANT_FIELDS = (
    "id", "conference", "display_name", "source_alias", "destination_alias", "role",
    "protocol", "call_direction", "connect_time", "is_muted", "is_client_muted", "is_on_hold",
    "is_presenting", "is_streaming", "has_media", "service_type", "media_node",
    "signalling_node", "system_location", "remote_address", "vendor", "call_uuid",
    "encryption", "is_disconnect_supported", "is_mute_supported", "is_transfer_supported",
    "resource_uri",
)  # fmt: skip
MANAGEMENT_FIELDS = ("id", "name", "version", "build", "primary_ip", "resource_uri")


def conference_json(conference: Conference) -> dict[str, Any]:
    return {
        "id": conference.id,
        "name": conference.service.name,
        "service_type": conference.service.service_type,
        "is_locked": conference.is_locked,
        "is_started": True,
        "guests_muted": conference.guests_muted,
        "start_time": iso(conference.start_time),
        "tag": conference.service.tag,
        "resource_uri": f"{PREFIX}conference/{conference.id}/",
    }


def participant_json(node: NodeState, participant: Participant) -> dict[str, Any]:
    conference = node.conferences[participant.conference_id]
    streaming = participant.protocol == "RTMP"
    return {
        "id": participant.id,
        "conference": conference.service.name,
        "display_name": participant.display_name,
        "source_alias": participant.source_alias,
        "destination_alias": participant.destination_alias,
        "role": participant.role,
        "protocol": participant.protocol,
        "call_direction": participant.call_direction,
        "connect_time": iso(participant.connect_time),
        "is_muted": participant.is_muted,
        "is_client_muted": participant.is_client_muted,
        "is_on_hold": participant.is_on_hold,
        "is_presenting": participant.is_presenting,
        "is_streaming": participant.is_streaming,
        "has_media": participant.has_media,
        "service_type": WAITING_ROOM if participant.waiting else conference.service.service_type,
        "media_node": participant.media_node,
        "signalling_node": participant.media_node,
        "system_location": participant.system_location,
        "remote_address": participant.remote_address,
        "vendor": participant.vendor,
        "call_uuid": participant.id,
        "encryption": "On",
        "is_disconnect_supported": True,
        "is_mute_supported": not streaming,
        "is_transfer_supported": not streaming,
        "resource_uri": f"{PREFIX}participant/{participant.id}/",
    }


def management_json(node: NodeState) -> dict[str, Any]:
    return {
        "id": 1,
        "name": node.settings.hostname,
        "version": node.settings.version,
        "build": node.settings.build,
        "primary_ip": "10.0.0.10",
        "resource_uri": f"{PREFIX}management_vm/1/",
    }


def routes(node: NodeState) -> list[BaseRoute]:
    """The status API's list and detail routes."""

    def conferences() -> list[dict[str, Any]]:
        return [conference_json(c) for c in node.live_conferences()]

    def participants() -> list[dict[str, Any]]:
        return [participant_json(node, p) for p in node.live_participants()]

    def management() -> list[dict[str, Any]]:
        return [management_json(node)]

    return [
        *resource_routes(f"{PREFIX}conference/", conferences, CONFERENCE_FIELDS),
        *resource_routes(f"{PREFIX}participant/", participants, PARTICIPANT_FIELDS),
        *resource_routes(f"{PREFIX}management_vm/", management, MANAGEMENT_FIELDS),
    ]
