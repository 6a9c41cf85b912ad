"""The commands of the management command API pexbot sends, one frozen model each.

Field names, types and choices are the vendor's, so a model that validates is a request the
node accepts; a bad value fails here, before anything is sent. `operation` words the command
for messages ("mute participant"); `path` is where it is POSTed.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

Protocol = Literal["sip", "h323", "mssip", "rtmp", "gms", "teams"]
Role = Literal["guest", "chair"]
CallType = Literal["video", "video-only", "audio"]
KeepAlive = Literal[
    "keep_conference_alive", "keep_conference_alive_if_multiple", "keep_conference_alive_never"
]
Routing = Literal["manual", "routing_rule"]
NonEmpty = Field(min_length=1, max_length=250)


class Command(BaseModel):
    """Base of every command: the body is the model's fields, None left out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: ClassVar[str]
    operation: ClassVar[str]

    def body(self) -> dict[str, Any]:
        """The JSON body as the node expects it (secrets revealed only here)."""
        return {
            name: _plain(value)
            for name, value in self
            if value is not None and not isinstance(value, Path)
        }


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, UUID | IPv4Address | IPv6Address):
        return str(value)
    return value


class ParticipantCommand(Command):
    participant_id: UUID


class ConferenceCommand(Command):
    conference_id: UUID


class Dial(Command):
    """Place a call from a Conferencing Node; the participant is called, not yet answered."""

    path = "participant/dial/"
    operation = "dial"

    conference_alias: str = NonEmpty
    destination: str = NonEmpty
    node: IPv4Address | IPv6Address | None = None
    system_location: str | None = Field(default=None, min_length=1, max_length=250)
    protocol: Protocol = "sip"
    role: Role = "guest"
    call_type: CallType = "video"
    remote_display_name: str | None = Field(default=None, max_length=250)
    local_display_name: str | None = Field(default=None, max_length=250)
    presentation_url: str | None = None
    streaming: bool | None = None
    dtmf_sequence: str | None = Field(default=None, pattern=r"^[0-9*#,]{1,100}$")
    keep_conference_alive: KeepAlive | None = None
    routing: Routing | None = None

    @model_validator(mode="after")
    def _node_or_location(self) -> Dial:
        if self.node is None and self.system_location is None:
            raise ValueError("give a node (IP address) or a system_location to place the call from")
        return self


class DisconnectParticipant(ParticipantCommand):
    path = "participant/disconnect/"
    operation = "disconnect participant"


class MuteParticipant(ParticipantCommand):
    path = "participant/mute/"
    operation = "mute participant"


class UnmuteParticipant(ParticipantCommand):
    path = "participant/unmute/"
    operation = "unmute participant"


class UnlockParticipant(ParticipantCommand):
    """Admit a participant held in the waiting room of a locked conference."""

    path = "participant/unlock/"
    operation = "admit participant"


class TransferParticipant(ParticipantCommand):
    path = "participant/transfer/"
    operation = "transfer participant"

    conference_alias: str = NonEmpty
    role: Role | None = None


class SetRole(ParticipantCommand):
    """`participant/role`: `chair` makes a host, `guest` a guest (facts §5: never `host`)."""

    path = "participant/role/"
    operation = "change participant role"

    role: Role


LAYOUTS: tuple[str, ...] = (
    "1:0",
    "1:7",
    "1:21",
    "2:21",
    "1:33",
    "4:0",
    "9:0",
    "16:0",
    "25:0",
    "5:7",
)
"""The layout names Pexip's own clients send (real-node-facts §5); the management schema
publishes no list."""
OVERLAY_TEXT_MAX = 1000  # `free_form_overlay_text`: string ≤1000 (facts §5)
Layout = Literal["1:0", "1:7", "1:21", "2:21", "1:33", "4:0", "9:0", "16:0", "25:0", "5:7"]


class TransformLayout(ConferenceCommand):
    """`conference/transform_layout`: a flat body (no `transforms` wrapper, facts §5)."""

    path = "conference/transform_layout/"
    operation = "change conference layout"

    layout: Layout | None = None
    host_layout: Layout | None = None
    guest_layout: Layout | None = None
    free_form_overlay_text: str | None = Field(default=None, max_length=OVERLAY_TEXT_MAX)


class DisconnectConference(ConferenceCommand):
    path = "conference/disconnect/"
    operation = "end conference"


class MuteGuests(ConferenceCommand):
    path = "conference/mute_guests/"
    operation = "mute all guests"


class UnmuteGuests(ConferenceCommand):
    path = "conference/unmute_guests/"
    operation = "unmute all guests"


class LockConference(ConferenceCommand):
    path = "conference/lock/"
    operation = "lock conference"


class UnlockConference(ConferenceCommand):
    path = "conference/unlock/"
    operation = "unlock conference"


class SyncTemplate(Command):
    path = "conference/sync/"
    operation = "sync template"

    conference_sync_template_id: str = Field(pattern=r"^[1-9][0-9]{0,9}$")
    """The schema types it as a string holding the template's integer id (facts §5)."""


class BackupCreate(Command):
    path = "platform/backup_create/"
    operation = "create backup"

    passphrase: SecretStr = Field(min_length=1)


class BackupRestore(Command):
    """Sent as a multipart form: the file in `package`, the passphrase as a field."""

    path = "platform/backup_restore/"
    operation = "restore backup"

    passphrase: SecretStr = Field(min_length=1)
    package: Path


ALL_COMMANDS: tuple[type[Command], ...] = (
    Dial,
    DisconnectParticipant,
    DisconnectConference,
    MuteParticipant,
    MuteGuests,
    UnmuteParticipant,
    UnmuteGuests,
    LockConference,
    UnlockConference,
    UnlockParticipant,
    TransferParticipant,
    SetRole,
    TransformLayout,
    BackupCreate,
    BackupRestore,
    SyncTemplate,
)
