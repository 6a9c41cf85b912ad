"""The management node's records: configuration (what is set up) and status (what is live)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

PROTOCOLS = {
    "sip": "SIP",
    "h323": "H323",
    "mssip": "MSSIP",
    "rtmp": "RTMP",
    "gms": "GMS",
    "teams": "TEAMS",
}
"""Dial `protocol` choices and how the status API spells each."""

WAITING_ROOM = "waiting_room"
CONNECTING = "connecting"


def iso(timestamp: float | None) -> str | None:
    """UTC ISO 8601 without offset, with microseconds, as the status API prints times."""
    if timestamp is None:
        return None
    return utc(timestamp).isoformat(timespec="microseconds")


def utc(timestamp: float) -> datetime:
    """A naive UTC datetime for a Unix timestamp."""
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


@dataclass
class Settings:
    """What the control API can change at run time."""

    answer_delay: float = 0.3
    """Seconds before a dialled call answers (or, for "noanswer"/"busy", gives up)."""
    backup_delay: float = 0.5
    """Seconds before a requested backup's file appears."""
    version: str = "36"
    """The release, as backups record it; the status API writes `"36 (82470.0.0)"`."""
    build: str = "82470.0.0"
    management_version: str = ""
    """If set, status `management_vm` reports this `version` verbatim (e.g. an unreadable one)."""
    hostname: str = "pexmgr"
    backup_size: int = 64 * 1024
    """Size in bytes of the files `backup_create` makes."""


@dataclass
class Alias:
    """A configured alias that reaches a service."""

    id: int
    alias: str
    conference_id: int
    description: str = ""


@dataclass
class ServiceConfig:
    """A configured service (VMR, lecture...): the configuration API's `conference`."""

    id: int
    name: str
    service_type: str = "conference"
    description: str = ""
    tag: str = ""


@dataclass(frozen=True)
class Location:
    """A system location and the addresses of its Conferencing Nodes."""

    id: int
    name: str
    description: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class SyncTemplate:
    """A conference sync template (LDAP sync)."""

    id: int
    name: str
    description: str


@dataclass
class Conference:
    """A running conference instance; `id` is its UUID, not the configuration id."""

    id: str
    service: ServiceConfig
    start_time: float
    is_locked: bool = False
    guests_muted: bool = False


@dataclass
class Participant:
    """A participant (or a call still ringing) in a running conference."""

    id: str
    conference_id: str
    display_name: str
    source_alias: str
    destination_alias: str
    role: str
    protocol: str
    call_direction: str
    media_node: str
    system_location: str
    remote_address: str
    vendor: str = ""
    connect_time: float | None = None
    has_media: bool = True
    is_muted: bool = False
    is_client_muted: bool = False
    is_on_hold: bool = False
    is_presenting: bool = False
    is_streaming: bool = False
    remote_port: int = 0
    waiting: bool = False
    answer_at: float | None = None
    """When a dialled call answers (or, if `answers` is false, gives up)."""
    answers: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    """Dial options the status API does not show (call_type, dtmf_sequence...)."""


@dataclass
class WorkerNode:
    """A Conferencing or Proxying Node: status `worker_vm`."""

    id: int
    name: str
    location: str
    address: str
    """Its IP; status `worker_vm` does not show it, participants' `media_node` does."""
    node_type: str = "CONFERENCING"
    maintenance_mode: bool = False
    maintenance_mode_reason: str = ""
    sync_status: str = "SYNCED"
    media_load: int = 0
    boot_time: float = 0.0


@dataclass
class Alarm:
    """A raised alarm: status `alarm` while raised, `history/v1/alarm` once lowered."""

    id: int
    identifier: int
    name: str
    details: str
    instance: str
    node: str
    level: str
    time_raised: float
    acknowledged: bool = False
    time_lowered: float | None = None
