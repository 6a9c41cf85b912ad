"""Frozen models of what the node returns. A reply that does not fit becomes one named error
(`UnexpectedResponse`) at the client boundary, not a KeyError three layers up.

Read what real nodes send (shared/pexip-docs/real-node-facts.md): any key may be missing or
null (null is read as missing, so the field's default applies), values the vendor may extend
(`protocol`, `service_type`, `role`...) are open strings shown as they come, and only what
pexbot cannot work without (an `id`, a conference's `name`) is required."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _utc(value: Any) -> Any:
    """The node writes UTC times without an offset; make them aware."""
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


UtcTime = Annotated[datetime | None, BeforeValidator(_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _null_is_missing(cls, data: Any) -> Any:
        """The node may send null where it usually sends "" (or a default): read it as absent."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


RequiredText = Annotated[str, Field(min_length=1)]

IN_THE_ROOM = frozenset({"conference", "lecture"})
"""`service_type`s of a leg that is in the conference itself (facts §1): not `connecting`,
at the PIN entry (`ivr`), in a Virtual Reception or the waiting room."""


class Conference(_Model):
    """A running conference instance (status API). `id` is the instance UUID commands take."""

    id: RequiredText
    name: RequiredText
    service_type: str = ""
    is_locked: bool = False
    is_started: bool = True
    """False while guests wait for a Host to join (missing: assumed started)."""
    guests_muted: bool = False
    start_time: UtcTime = None
    tag: str = ""


class Participant(_Model):
    """A participant of a running conference (status API). `conference` is the conference name."""

    id: RequiredText
    conference: str = ""
    display_name: str = ""
    source_alias: str = ""
    destination_alias: str = ""
    role: str = ""
    protocol: str = ""
    call_direction: str = ""
    connect_time: UtcTime = None
    service_type: str = ""
    has_media: bool = False
    """Media streams exist right now: NOT "connected" (a connected leg may have none)."""
    is_muted: bool = False
    """Muted by a moderator (server side)."""
    is_client_muted: bool = False
    """Muted themselves on their endpoint."""
    is_on_hold: bool = False
    is_presenting: bool = False
    is_streaming: bool = False
    system_location: str = ""
    # Older nodes may lack these; then the node itself refuses what a leg does not support.
    is_disconnect_supported: bool = True
    is_mute_supported: bool = True
    is_transfer_supported: bool = True

    @property
    def is_waiting(self) -> bool:
        """Held in the waiting room of a locked conference until admitted (the only
        `service_type` that means "admit me")."""
        return self.service_type == "waiting_room"

    @property
    def is_connecting(self) -> bool:
        """Still being routed: `service_type` says so, whatever `has_media` says."""
        return self.service_type == "connecting"

    @property
    def is_in_the_room(self) -> bool:
        return self.service_type in IN_THE_ROOM

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

    filename: RequiredText
    date: UtcTime = None
    build: str = ""
    version: str = ""
    size: int = Field(default=0, ge=0)
    sha256sum: str = ""  # newer versions; empty when the node does not say

    @property
    def release_and_build(self) -> tuple[str, str] | None:
        """(version, build) from its fields, else from the vendor's file name; None if neither
        says."""
        if self.version and self.build:
            return self.version, self.build
        found = BACKUP_NAME_VERSION.search(self.filename)
        return (found.group(1), found.group(2)) if found else None


BACKUP_NAME_VERSION = re.compile(
    r"_(\d+(?:\.\d+)*)_(\d+(?:\.\d+)+)_\d\d_\d\d_\d\d_\d\d_\d\d_\d\d\.tar\.gpg$"
)
"""`pexip_backup_<host>_<version>_<build>_<yy_mm_dd_HH_MM_SS>.tar.gpg`: version and build."""


VERSION_PATTERN = re.compile(r"^([\d.]+) \(([\d.]+)\)")
"""How the node writes `version`: `"36 (82470.0.0)"` = release 36, build 82470.0.0 (Pexip's
own log tool parses it with this pattern)."""


class ManagementNode(_Model):
    """A management node (status `management_vm`). There is no `build` field: the build is
    inside `version`, e.g. `"24 (55691.0.0)"`."""

    name: str = ""
    primary: bool = False
    version: str = ""

    @property
    def release_and_build(self) -> tuple[str, str] | None:
        """(release, build) as backups record them, or None when `version` cannot be read."""
        found = VERSION_PATTERN.match(self.version.strip())
        return (found.group(1), found.group(2)) if found else None


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
