"""Status API: live conferences and participants, the management node, Conferencing Nodes,
alarms and licences, with the real node's field sets (shared/pexip-docs/real-node-facts.md)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .models import CONNECTING, WAITING_ROOM, Alarm, Conference, Participant, WorkerNode, iso
from .rest import list_response, resource_routes
from .state import NodeState

PREFIX = "/api/admin/status/v1/"
HISTORY = "/api/admin/history/v1/"

CONFERENCE_FIELDS = (
    "id", "name", "service_type", "is_locked", "is_started", "guests_muted",
    "direct_media_available", "start_time", "tag", "resource_uri",
)  # fmt: skip
PARTICIPANT_FIELDS = (
    "id", "call_uuid", "conversation_id", "conference", "service_type", "service_tag",
    "call_tag", "display_name", "source_alias", "destination_alias", "participant_alias",
    "role", "call_direction", "protocol", "connect_time", "has_media", "is_muted",
    "is_client_muted", "is_on_hold", "is_presenting", "is_streaming", "is_recording",
    "is_transcribing", "is_direct", "is_disconnect_supported", "is_mute_supported",
    "is_transfer_supported", "is_presentation_supported", "is_idp_authenticated", "idp_uuid",
    "encryption", "call_quality", "bandwidth", "rx_bandwidth", "tx_bandwidth", "license_count",
    "license_type", "media_node", "signalling_node", "proxy_node", "system_location",
    "remote_address", "remote_port", "vendor", "transcoding_enabled", "parent_id",
    "resource_uri",
)  # fmt: skip
MANAGEMENT_FIELDS = (
    "id", "configuration_id", "name", "primary", "version", "sync_status", "upgrade_status",
    "last_updated", "last_attempted_contact", "resource_uri",
)  # fmt: skip
WORKER_FIELDS = (
    "id", "configuration_id", "name", "node_type", "system_location", "version",
    "maintenance_mode", "maintenance_mode_reason", "media_load", "media_tokens_used",
    "max_media_tokens", "max_audio_calls", "max_sd_calls", "max_hd_calls", "max_full_hd_calls",
    "max_direct_participants", "signaling_count", "sync_status", "upgrade_status",
    "deploy_status", "boot_time", "last_updated", "last_attempted_contact", "cpu_count",
    "cpu_model", "cpu_capabilities", "hypervisor", "total_ram", "resource_uri",
)  # fmt: skip
ALARM_FIELDS = (
    "id", "identifier", "name", "level", "details", "instance", "node", "acknowledged",
    "time_raised", "resource_uri",
)  # fmt: skip
ALARM_HISTORY_FIELDS = (*ALARM_FIELDS, "time_lowered")
LICENSING_FIELDS = (
    *(f"{kind}_{part}" for kind in (
        "port", "audio", "system", "vmr", "teams", "ghm", "otj", "scheduling", "telehealth"
    ) for part in ("count", "total")),
    "customlayouts_active", "googletrustedjoin_active", "zoomtrustedjoin_active",
)  # fmt: skip

_ROOM_TYPES = ("conference", "lecture")
MAX_MEDIA_TOKENS = 172


def node_version(node: NodeState) -> str:
    """The status API's `version`: `"<release> (<build>)"`, e.g. `"36 (82470.0.0)"`."""
    settings = node.settings
    return settings.management_version or f"{settings.version} ({settings.build})"


def conference_json(node: NodeState, conference: Conference) -> dict[str, Any]:
    return {
        "id": conference.id,
        "name": conference.service.name,
        "service_type": conference.service.service_type,
        "is_locked": conference.is_locked,
        "is_started": node.is_started(conference),
        "guests_muted": conference.guests_muted,
        "direct_media_available": False,
        "start_time": iso(conference.start_time),
        "tag": conference.service.tag,
        "resource_uri": f"{PREFIX}conference/{conference.id}/",
    }


def service_type(node: NodeState, participant: Participant) -> str:
    """Where the leg is now: `connecting` until answered, `waiting_room` while held outside a
    locked conference, then the service's own type."""
    if participant.answer_at is not None:
        return CONNECTING
    if participant.waiting:
        return WAITING_ROOM
    return node.conferences[participant.conference_id].service.service_type


def participant_json(node: NodeState, participant: Participant) -> dict[str, Any]:
    conference = node.conferences[participant.conference_id]
    streaming = participant.is_streaming
    connected = participant.answer_at is None
    media = participant.has_media
    outgoing = participant.call_direction == "out"
    return {
        "id": participant.id,
        "call_uuid": participant.id,
        "conversation_id": participant.id,
        "conference": conference.service.name,
        "service_type": service_type(node, participant),
        "service_tag": conference.service.tag,
        "call_tag": "",
        "display_name": participant.display_name,
        "source_alias": participant.source_alias,
        "destination_alias": participant.destination_alias,
        "participant_alias": (
            participant.destination_alias if outgoing else participant.source_alias
        ),
        "role": participant.role,
        "call_direction": participant.call_direction,
        "protocol": participant.protocol,
        "connect_time": iso(participant.connect_time),
        "has_media": media,
        "is_muted": participant.is_muted,
        "is_client_muted": participant.is_client_muted,
        "is_on_hold": participant.is_on_hold,
        "is_presenting": participant.is_presenting,
        "is_streaming": streaming,
        "is_recording": False,
        "is_transcribing": False,
        "is_direct": False,
        "is_disconnect_supported": True,
        "is_mute_supported": not streaming,
        "is_transfer_supported": not streaming,
        "is_presentation_supported": not streaming,
        "is_idp_authenticated": False,
        "idp_uuid": "",
        "encryption": "On",
        "call_quality": "1_good" if media else "0_unknown",
        "bandwidth": 2048 if media else 0,
        "rx_bandwidth": 1920 if media else 0,
        "tx_bandwidth": 1536 if media else 0,
        "license_count": 1 if connected else 0,
        "license_type": "port" if connected else "nolicense",
        "media_node": participant.media_node if connected else "",
        "signalling_node": participant.media_node,
        "proxy_node": "",
        "system_location": participant.system_location,
        "remote_address": participant.remote_address,
        "remote_port": participant.remote_port,
        "vendor": participant.vendor,
        "transcoding_enabled": True,
        "parent_id": "",
        "resource_uri": f"{PREFIX}participant/{participant.id}/",
    }


def management_json(node: NodeState) -> dict[str, Any]:
    now = iso(node.now())
    return {
        "id": 1,
        "configuration_id": 1,
        "name": node.settings.hostname,
        "primary": True,
        "version": node_version(node),
        "sync_status": "SYNCED",
        "upgrade_status": "IDLE",
        "last_updated": now,
        "last_attempted_contact": now,
        "resource_uri": f"{PREFIX}management_vm/1/",
    }


def worker_json(node: NodeState, worker: WorkerNode) -> dict[str, Any]:
    now = iso(node.now())
    tokens = MAX_MEDIA_TOKENS * worker.media_load // 100
    calls = sum(1 for p in node.live_participants() if p.media_node == worker.address)
    return {
        "id": worker.id,
        "configuration_id": worker.id,
        "name": worker.name,
        "node_type": worker.node_type,
        "system_location": worker.location,
        "version": node_version(node),
        "maintenance_mode": worker.maintenance_mode,
        "maintenance_mode_reason": worker.maintenance_mode_reason,
        "media_load": worker.media_load,
        "media_tokens_used": tokens,
        "max_media_tokens": MAX_MEDIA_TOKENS,
        "max_audio_calls": 172,
        "max_sd_calls": 22,
        "max_hd_calls": 9,
        "max_full_hd_calls": 5,
        "max_direct_participants": 0,
        "signaling_count": calls,
        "sync_status": worker.sync_status,
        "upgrade_status": "IDLE",
        "deploy_status": "deploy_succeeded",
        "boot_time": iso(worker.boot_time),
        "last_updated": now,
        "last_attempted_contact": now,
        "cpu_count": 4,
        "cpu_model": "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
        "cpu_capabilities": "AVX2",
        "hypervisor": "VMware",
        "total_ram": 8167836,
        "resource_uri": f"{PREFIX}worker_vm/{worker.id}/",
    }


def alarm_json(alarm: Alarm, *, history: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": alarm.id,
        "identifier": alarm.identifier,
        "name": alarm.name,
        "level": alarm.level,
        "details": alarm.details,
        "instance": alarm.instance,
        "node": alarm.node,
        "acknowledged": alarm.acknowledged,
        "time_raised": iso(alarm.time_raised),
        "resource_uri": f"{HISTORY if history else PREFIX}alarm/{alarm.id}/",
    }
    if history:
        body["time_lowered"] = iso(alarm.time_lowered)
    return body


def routes(node: NodeState) -> list[BaseRoute]:
    """The status API's list and detail routes, and the alarm history."""

    def conferences() -> list[dict[str, Any]]:
        return [conference_json(node, c) for c in node.live_conferences()]

    def participants() -> list[dict[str, Any]]:
        return [participant_json(node, p) for p in node.live_participants()]

    def management() -> list[dict[str, Any]]:
        return [management_json(node)]

    def workers() -> list[dict[str, Any]]:
        return [worker_json(node, w) for w in node.workers.values()]

    def alarms() -> list[dict[str, Any]]:
        return [alarm_json(a) for a in node.alarms.values()]

    def lowered() -> list[dict[str, Any]]:
        return [alarm_json(a, history=True) for a in node.lowered_alarms]

    async def licensing(request: Request) -> Response:
        """A list envelope with exactly one object (not a bare object)."""
        return list_response(request, [node.licensing()], LICENSING_FIELDS)

    return [
        *resource_routes(f"{PREFIX}conference/", conferences, CONFERENCE_FIELDS),
        *resource_routes(f"{PREFIX}participant/", participants, PARTICIPANT_FIELDS),
        *resource_routes(f"{PREFIX}management_vm/", management, MANAGEMENT_FIELDS),
        *resource_routes(f"{PREFIX}worker_vm/", workers, WORKER_FIELDS),
        *resource_routes(f"{PREFIX}alarm/", alarms, ALARM_FIELDS),
        *resource_routes(f"{HISTORY}alarm/", lowered, ALARM_HISTORY_FIELDS),
        Route(f"{PREFIX}licensing/", licensing, methods=["GET"]),
    ]
