"""The management node's in-memory state and the commands that change it. Pure logic, no HTTP.

Time moves lazily: a dialled call answers (or gives up) and a requested backup appears when any
query or command first looks after its due time, so there are no timers to cancel on reset.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from . import seed
from .backup_store import BackupStore
from .errors import ApiError, not_found
from .models import (
    PROTOCOLS,
    Alarm,
    Alias,
    Conference,
    Location,
    Participant,
    ServiceConfig,
    Settings,
    SyncTemplate,
    WorkerNode,
)

KEEP_ALIVE_NEVER = "keep_conference_alive_never"
MANAGEMENT_ADDRESS = "10.0.0.10"
"""The management node's own IP (alarms it raises name it as their `node`)."""
OUTGOING_PORTS = {"sip": 5060, "h323": 1720, "rtmp": 1935}
"""The far end's signalling port of an outgoing call, by dial protocol (else 443)."""


class NodeState:
    """Configuration, live conferences and participants, and backups of one management node."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        seed_passphrase: str = seed.PASSPHRASE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._initial = settings or Settings()
        self.seed_passphrase = seed_passphrase
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        """Back to the seed data and the settings given at construction."""
        now = self._clock()
        self.settings = replace(self._initial)
        self.services: dict[int, ServiceConfig] = {s.id: s for s in seed.services()}
        self.aliases: dict[int, Alias] = {a.id: a for a in seed.aliases()}
        self.locations: dict[int, Location] = {loc.id: loc for loc in seed.LOCATIONS}
        self.templates: dict[int, SyncTemplate] = {t.id: t for t in seed.TEMPLATES}
        conferences, participants = seed.live(self.services, now)
        self.conferences: dict[str, Conference] = {c.id: c for c in conferences}
        self.participants: dict[str, Participant] = {p.id: p for p in participants}
        self.layouts: dict[str, dict[str, str | bool]] = {}  # conference id → last layout sent
        self.workers: dict[int, WorkerNode] = {w.id: w for w in seed.workers(now)}
        self.alarms: dict[int, Alarm] = {}
        self.lowered_alarms: list[Alarm] = []
        self._next_alarm = 1
        self.licences: dict[str, int | bool] = dict(seed.LICENCES)
        self.backups = BackupStore(
            self.settings,
            self._clock,
            seed.backups(self.settings, self.seed_passphrase, now),
            self.seed_passphrase,
        )

    # -- queries ---------------------------------------------------------------------------

    def live_conferences(self) -> list[Conference]:
        self._advance()
        return list(self.conferences.values())

    def live_participants(self) -> list[Participant]:
        self._advance()
        return list(self.participants.values())

    def now(self) -> float:
        return self._clock()

    def is_started(self, conference: Conference) -> bool:
        """A Host has joined: a chair who is in the conference itself (not waiting, not
        still connecting)."""
        return any(
            p.role == "chair" and not p.waiting and p.answer_at is None
            for p in self._members(conference.id)
        )

    def licensing(self) -> dict[str, int | bool]:
        """Licence use; `port_count` follows the live calls unless set by the control API."""
        values = dict(self.licences)
        if "port_count" not in values:
            values["port_count"] = sum(1 for p in self.live_participants() if not p.waiting)
        return values

    # -- control hooks (not vendor commands) --------------------------------------------------

    def raise_alarm(
        self, name: str, *, details: str = "", instance: str = "", node: str = "", level: str
    ) -> Alarm:
        """A new alarm, listed in status `alarm` until lowered."""
        alarm = Alarm(
            id=self._next_alarm,
            identifier=self._next_alarm,
            name=name,
            details=details,
            instance=instance,
            node=node or self._management_address(),
            level=level,
            time_raised=self._clock(),
        )
        self._next_alarm += 1
        self.alarms[alarm.id] = alarm
        return alarm

    def lower_alarm(self, alarm_id: int) -> Alarm | None:
        """Clear an alarm: it leaves status `alarm` and appears in `history/v1/alarm`."""
        alarm = self.alarms.pop(alarm_id, None)
        if alarm is not None:
            alarm.time_lowered = self._clock()
            self.lowered_alarms.append(alarm)
        return alarm

    def _management_address(self) -> str:
        return MANAGEMENT_ADDRESS

    def set_worker(
        self,
        worker_id: int,
        *,
        maintenance_mode: bool | None = None,
        reason: str | None = None,
        sync_status: str | None = None,
        media_load: int | None = None,
    ) -> WorkerNode | None:
        """Put a Conferencing Node into (or out of) maintenance, or change its sync state or
        load; None if there is no such node."""
        worker = self.workers.get(worker_id)
        if worker is None:
            return None
        if maintenance_mode is not None:
            worker.maintenance_mode = maintenance_mode
            worker.maintenance_mode_reason = (reason or "") if maintenance_mode else ""
        if sync_status is not None:
            worker.sync_status = sync_status
        if media_load is not None:
            worker.media_load = media_load
        return worker

    def set_licences(self, values: dict[str, int | bool]) -> None:
        """Change licence figures (`port_count` set here stops following the live calls)."""
        self.licences.update(values)

    # -- queries, continued ----------------------------------------------------------------

    def service_of(self, alias: str) -> ServiceConfig | None:
        """The service an alias reaches (aliases match case-insensitively)."""
        for item in self.aliases.values():
            if item.alias.casefold() == alias.casefold():
                return self.services[item.conference_id]
        return None

    # -- participant commands --------------------------------------------------------------

    def dial(
        self,
        conference_alias: str,
        destination: str,
        *,
        node: str = "",
        location: str = "",
        protocol: str = "sip",
        role: str = "guest",
        remote_display_name: str = "",
        streaming: bool = False,
        extra: dict[str, str] | None = None,
    ) -> str:
        """Place a call from the alias's conference (started if need be); returns its id."""
        self._advance()
        service = self._service_or_error(conference_alias)
        media_node, location_name = self._place(node, location)
        now = self._clock()
        conference = self._start(service, now)
        participant = Participant(
            id=str(uuid.uuid4()),
            conference_id=conference.id,
            display_name=remote_display_name or destination,
            source_alias=conference_alias,
            destination_alias=destination,
            role=role,
            protocol=PROTOCOLS[protocol],
            call_direction="out",
            media_node=media_node,
            system_location=location_name,
            remote_address="203.0.113.10",  # the far end's signalling address
            remote_port=OUTGOING_PORTS.get(protocol, 443),
            has_media=False,
            is_streaming=streaming,
            answer_at=now + self.settings.answer_delay,
            answers=not any(word in destination.lower() for word in ("noanswer", "busy")),
            extra=dict(extra or {}),
        )
        self._join(participant, conference)
        self.participants[participant.id] = participant
        return participant.id

    def arrive(
        self,
        alias: str,
        display_name: str,
        *,
        source_alias: str = "",
        protocol: str = "WebRTC",
        location: str = "London",
        role: str = "guest",
    ) -> str:
        """A call comes in to the alias's conference (a control hook, not a vendor command): it
        connects briefly, then joins, or waits to be admitted if the conference is locked."""
        self._advance()
        service = self._service_or_error(alias)
        media_node, location_name = self._place("", location)
        now = self._clock()
        participant = Participant(
            id=str(uuid.uuid4()),
            conference_id=self._start(service, now).id,
            display_name=display_name,
            source_alias=source_alias or f"{display_name.lower().replace(' ', '.')}@guest.example",
            destination_alias=alias,
            role=role,
            protocol=protocol,
            call_direction="in",
            media_node=media_node,
            system_location=location_name,
            remote_address="198.51.100.20",
            remote_port=443,
            has_media=False,
            answer_at=now + min(self.settings.answer_delay, 0.1),
        )
        self._join(participant, self.conferences[participant.conference_id])
        self.participants[participant.id] = participant
        return participant.id

    def transfer(self, participant_id: str, conference_alias: str, role: str | None) -> None:
        """Move a participant into the alias's conference, with `role` if given."""
        participant = self._participant(participant_id)
        service = self._service_or_error(conference_alias)
        source = participant.conference_id
        target = self._start(service, self._clock())
        if role:
            participant.role = role
        participant.is_muted = False
        self._join(participant, target)
        self._stop_if_empty(source)

    def disconnect_participant(self, participant_id: str) -> None:
        self._remove(self._participant(participant_id).id)

    def set_muted(self, participant_id: str, muted: bool) -> None:
        self._participant(participant_id).is_muted = muted

    def admit(self, participant_id: str) -> None:
        """Let one participant out of the waiting room (no-op if not waiting)."""
        self._participant(participant_id).waiting = False

    def set_role(self, participant_id: str, role: str) -> None:
        self._participant(participant_id).role = role

    # -- conference commands ---------------------------------------------------------------

    def transform_layout(
        self,
        conference_id: str,
        layouts: dict[str, str],
        overlay_text: str | None,
        flags: dict[str, bool],
    ) -> None:
        """Remembered for tests only: a real node shows no layout in the status API (facts §8)."""
        conference = self._conference(conference_id)
        self.layouts[conference.id] = {
            **{name: value for name, value in layouts.items() if value},
            **({} if overlay_text is None else {"free_form_overlay_text": overlay_text}),
            **flags,
        }

    def disconnect_conference(self, conference_id: str) -> None:
        conference = self._conference(conference_id)
        for participant in self._members(conference.id):
            del self.participants[participant.id]
        del self.conferences[conference.id]

    def set_guests_muted(self, conference_id: str, muted: bool) -> None:
        conference = self._conference(conference_id)
        conference.guests_muted = muted
        for participant in self._members(conference.id):
            if participant.role == "guest":
                participant.is_muted = muted

    def set_locked(self, conference_id: str, locked: bool) -> None:
        """Lock, or unlock and admit everyone waiting."""
        conference = self._conference(conference_id)
        conference.is_locked = locked
        if not locked:
            for participant in self._members(conference.id):
                participant.waiting = False

    def sync(self, template_id: str) -> None:
        if not template_id.isdigit() or int(template_id) not in self.templates:
            raise ApiError.field(
                "conference_sync_template_id", not_found("conference sync template")
            )

    # -- internals -------------------------------------------------------------------------

    def _advance(self) -> None:
        now = self._clock()
        for participant in list(self.participants.values()):
            due = participant.answer_at
            if due is None or due > now:
                continue
            if participant.answers:
                participant.answer_at, participant.connect_time = None, due
                participant.has_media = True
            else:
                self._remove(participant.id)

    def _participant(self, participant_id: str) -> Participant:
        self._advance()
        participant = self.participants.get(participant_id)
        if participant is None:
            raise ApiError.field("participant_id", not_found("participant"))
        return participant

    def _conference(self, conference_id: str) -> Conference:
        self._advance()
        conference = self.conferences.get(conference_id)
        if conference is None:
            raise ApiError.field("conference_id", not_found("conference"))
        return conference

    def _service_or_error(self, alias: str) -> ServiceConfig:
        service = self.service_of(alias)
        if service is None:
            raise ApiError.field("conference_alias", not_found("conference alias"))
        return service

    def _place(self, node: str, location: str) -> tuple[str, str]:
        """(media node address, system location name) for a dial; the node wins."""
        named = next((loc for loc in self.locations.values() if loc.name == location), None)
        if node:
            owner = next((loc for loc in self.locations.values() if node in loc.nodes), named)
            return node, owner.name if owner else ""
        if named is None:
            raise ApiError.field("system_location", not_found("system location"))
        return named.nodes[0], named.name

    def _start(self, service: ServiceConfig, now: float) -> Conference:
        for conference in self.conferences.values():
            if conference.service.id == service.id:
                return conference
        conference = Conference(id=str(uuid.uuid4()), service=service, start_time=now)
        self.conferences[conference.id] = conference
        return conference

    def _join(self, participant: Participant, conference: Conference) -> None:
        """Anyone joining a locked conference waits to be admitted (once their call is up)."""
        participant.conference_id = conference.id
        participant.waiting = conference.is_locked
        if conference.guests_muted and participant.role == "guest":
            participant.is_muted = True

    def _members(self, conference_id: str) -> list[Participant]:
        return [p for p in self.participants.values() if p.conference_id == conference_id]

    def _remove(self, participant_id: str) -> None:
        participant = self.participants.pop(participant_id)
        self._stop_if_empty(participant.conference_id)

    def _stop_if_empty(self, conference_id: str) -> None:
        """A conference stops when nobody is left, or only legs dialled with
        `keep_conference_alive_never` (a stream alone does not keep it up)."""
        if conference_id not in self.conferences:
            return
        members = self._members(conference_id)
        if all(p.extra.get("keep_conference_alive") == KEEP_ALIVE_NEVER for p in members):
            for participant in members:
                del self.participants[participant.id]
            del self.conferences[conference_id]
