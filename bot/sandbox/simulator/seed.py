"""Seed data: what a freshly started (or reset) simulator holds. Listed in the package docstring.

Ids of seeded live objects are uuid5s of their names, so they are stable across resets.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from .backups import Backup, backup_filename
from .models import (
    Alias,
    Conference,
    Location,
    Participant,
    ServiceConfig,
    Settings,
    SyncTemplate,
    WorkerNode,
    utc,
)

PASSPHRASE = "pexbot-demo"
BACKUP_SIZE = 64 * 1024
OLD_VERSION = ("35", "80180.0.0")
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/pexbot/simulator")

LOCATIONS = (
    Location(1, "London", "London data centre", ("10.0.1.11", "10.0.1.12")),
    Location(2, "Oslo", "Oslo office", ("10.0.2.11",)),
    Location(3, "New York", "New York data centre", ("10.0.3.11",)),
)
TEMPLATES = (
    SyncTemplate(1, "Sales VMRs", "One VMR per member of the LDAP group 'sales'"),
    SyncTemplate(2, "Engineering VMRs", "One VMR per member of the LDAP group 'engineering'"),
)

# (name, service type, description, aliases)
_SERVICES = (
    ("VMR_1", "conference", "Team meeting room", ("meet@example.com", "vmr1@meet.example.com")),
    ("VMR_2", "conference", "Project meeting room", ("vmr2@meet.example.com",)),
    ("Board_Room", "conference", "Board meetings", ("board@example.com",)),
    ("VMR_3", "conference", "Spare meeting room", ("vmr3@meet.example.com",)),
    ("Town_Hall", "lecture", "All-hands broadcasts", ("townhall@example.com",)),
)

# conference -> (minutes since start, locked, participants)
# participant: (name, role, protocol, source alias, location, minutes since joining, options)
_LIVE: dict[str, tuple[int, bool, tuple[tuple[str, str, str, str, int, int, str], ...]]] = {
    "VMR_1": (
        42,
        False,
        (
            ("Alice Parkes", "chair", "SIP", "sip:alice.parkes@example.com", 0, 41, "presenting"),
            ("Bob Smith", "guest", "WebRTC", "bob.smith@example.com", 1, 38, "no media"),
            ("Carol Diaz", "guest", "H323", "carol.diaz@h323.example.com", 2, 30, "self-muted"),
        ),
    ),
    "VMR_2": (
        17,
        False,
        (
            ("Alice Cooper", "guest", "WebRTC", "alice.cooper@example.com", 0, 15, ""),
            ("Dan Brown", "chair", "SIP", "sip:dan.brown@example.com", 1, 17, "on hold"),
        ),
    ),
    "Board_Room": (
        65,
        True,
        (
            ("Frank Ng", "chair", "SIP", "sip:frank.ng@example.com", 0, 64, ""),
            ("Eve Adams", "guest", "WebRTC", "eve.adams@example.com", 0, 4, "waiting"),
        ),
    ),
}
_PORTS = {"SIP": 5061, "WebRTC": 443, "H323": 1720}
_VENDORS = {"SIP": "Cisco Webex Room Kit", "WebRTC": "Chrome 131", "H323": "Polycom RealPresence"}


# Conferencing Nodes: (id, name, location index, address)
_WORKERS = (
    (2, "pexconf-lon-1", 0, "10.0.1.11"),
    (3, "pexconf-lon-2", 0, "10.0.1.12"),
    (4, "pexconf-osl-1", 1, "10.0.2.11"),
    (5, "pexconf-nyc-1", 2, "10.0.3.11"),
)

LICENCES: dict[str, int | bool] = {
    "port_total": 100,
    "audio_count": 0,
    "audio_total": 50,
    "system_count": 4,
    "system_total": 10,
    "vmr_count": 5,
    "vmr_total": 50,
    "teams_count": 0,
    "teams_total": 10,
    "ghm_count": 0,
    "ghm_total": 0,
    "otj_count": 0,
    "otj_total": 0,
    "scheduling_count": 0,
    "scheduling_total": 0,
    "telehealth_count": 0,
    "telehealth_total": 0,
    "customlayouts_active": False,
    "googletrustedjoin_active": False,
    "zoomtrustedjoin_active": False,
}
"""Status `licensing` at the start; `port_count` is left out so it follows the live calls."""


def workers(now: float) -> list[WorkerNode]:
    """The Conferencing Nodes of the seeded locations, booted a week ago."""
    return [
        WorkerNode(
            id=ident,
            name=name,
            location=LOCATIONS[loc].name,
            address=address,
            media_load=8 + 4 * index,
            boot_time=now - 7 * 86400 - index * 3600,
        )
        for index, (ident, name, loc, address) in enumerate(_WORKERS)
    ]


def stable_id(*parts: str) -> str:
    """A deterministic UUID for a seeded object."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def services() -> list[ServiceConfig]:
    return [
        ServiceConfig(id=n, name=name, service_type=kind, description=text)
        for n, (name, kind, text, _) in enumerate(_SERVICES, start=1)
    ]


def aliases() -> list[Alias]:
    pairs = [(n, alias) for n, svc in enumerate(_SERVICES, start=1) for alias in svc[3]]
    return [
        Alias(id=i, alias=alias, conference_id=n) for i, (n, alias) in enumerate(pairs, start=1)
    ]


def live(by_id: dict[int, ServiceConfig], now: float) -> tuple[list[Conference], list[Participant]]:
    """The running conferences and their participants, times relative to `now`."""
    by_name = {service.name: service for service in by_id.values()}
    conferences: list[Conference] = []
    participants: list[Participant] = []
    for name, (started, locked, people) in _LIVE.items():
        conference = Conference(
            id=stable_id("conference", name),
            service=by_name[name],
            start_time=now - started * 60,
            is_locked=locked,
        )
        conferences.append(conference)
        alias = next(svc[3][0] for svc in _SERVICES if svc[0] == name)
        for display, role, protocol, source, loc, joined, options in people:
            location = LOCATIONS[loc]
            participants.append(
                Participant(
                    id=stable_id("participant", name, display),
                    conference_id=conference.id,
                    display_name=display,
                    source_alias=source,
                    destination_alias=alias,
                    role=role,
                    protocol=protocol,
                    call_direction="in",
                    media_node=location.nodes[0],
                    system_location=location.name,
                    remote_address=f"198.51.100.{len(participants) + 10}",
                    vendor=_VENDORS[protocol],
                    connect_time=now - joined * 60,
                    remote_port=_PORTS[protocol],
                    has_media="no media" not in options,
                    is_client_muted="self-muted" in options,
                    is_on_hold="on hold" in options,
                    is_presenting="presenting" in options,
                    waiting="waiting" in options,
                )
            )
    return conferences, participants


def backups(settings: Settings, passphrase: str, now: float) -> list[Backup]:
    """Nightly backups at 02:00 on each of the three previous days, plus one from an older
    software version."""
    midnight = utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    plan = [(45, *OLD_VERSION)] + [(days, settings.version, settings.build) for days in (3, 2, 1)]
    result = []
    for days, version, build in plan:
        when = midnight - timedelta(days=days) + timedelta(hours=2)
        filename = backup_filename(settings.hostname, version, build, when)
        result.append(Backup(filename, when, version, build, BACKUP_SIZE, passphrase))
    return result
