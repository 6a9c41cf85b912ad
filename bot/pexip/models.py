"""Frozen models of what the node returns. A reply that does not fit becomes one named error
(`UnexpectedResponse`) at the client boundary, not a KeyError three layers up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _utc(value: Any) -> Any:
    """The node writes UTC times without an offset; make them aware."""
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


UtcTime = Annotated[datetime | None, BeforeValidator(_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Conference(_Model):
    """A running conference instance (status API). `id` is the instance UUID commands take."""

    id: str
    name: str
    service_type: str = "conference"
    is_locked: bool = False
    is_started: bool = True
    guests_muted: bool = False
    start_time: UtcTime = None
    tag: str = ""


class Participant(_Model):
    """A participant of a running conference (status API). `conference` is the conference name."""

    id: str
    conference: str
    display_name: str = ""
    source_alias: str = ""
    destination_alias: str = ""
    role: str = "guest"
    protocol: str = ""
    call_direction: str = "in"
    connect_time: UtcTime = None
    is_muted: bool = False
    is_client_muted: bool = False
    is_on_hold: bool = False
    is_presenting: bool = False
    has_media: bool = False
    service_type: str = ""
    system_location: str = ""
    is_disconnect_supported: bool = True
    is_mute_supported: bool = True
    is_transfer_supported: bool = True

    @property
    def is_waiting(self) -> bool:
        """Held in the waiting room of a locked conference until admitted."""
        return self.service_type == "waiting_room"

    @property
    def label(self) -> str:
        return self.display_name or self.source_alias or self.destination_alias or self.id

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(alias for alias in (self.source_alias, self.destination_alias) if alias)


class ConferenceAlias(_Model):
    """An alias of a configured service; `conference` is the service's resource URI."""

    id: int
    alias: str
    conference: str
    description: str = ""


class ConfiguredConference(_Model):
    """A configured service (VMR, lecture...), running or not (configuration API)."""

    id: int
    name: str
    service_type: str = "conference"
    description: str = ""
    aliases: tuple[ConferenceAlias, ...] = ()
    resource_uri: str = ""

    @property
    def alias_names(self) -> tuple[str, ...]:
        return tuple(alias.alias for alias in self.aliases)


class SystemLocation(_Model):
    id: int
    name: str
    description: str = ""


class SystemBackup(_Model):
    """A backup file on the management node; restore only onto the same version."""

    filename: str
    date: UtcTime = None
    build: str = ""
    version: str = ""
    size: int = Field(default=0, ge=0)


class NodeVersion(_Model):
    """The management node's software version, as backups record it."""

    version: str
    build: str = ""


class CommandResult(_Model):
    """The node's answer to a command: `{"status", "message", "data"}`."""

    status: str = "success"
    message: str = ""
    data: Any = None

    @property
    def participant_id(self) -> str | None:
        """The new participant's id after `dial`."""
        if isinstance(self.data, dict):
            value = self.data.get("participant_id")
            return str(value) if value else None
        return None
