"""What typed commands are made of: the argument types and the bases several commands share.

Each command's own model is declared with it, in the module of its area (`handlers.registry`).
Every model is frozen; `to_text()` writes a command back as the text after the slash command,
which parses to an equal model (for people: audit rows, examples; buttons carry the model itself).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from handlers.registry import Command
from handlers.tokens import quote

Role = Literal["chair", "guest"]
Protocol = Literal["sip", "h323", "mssip", "rtmp", "gms", "teams"]
CallType = Literal["video", "video-only", "audio"]
ROLES: tuple[Role, ...] = ("chair", "guest")
PROTOCOLS: tuple[Protocol, ...] = ("sip", "h323", "mssip", "rtmp", "gms", "teams")
CALL_TYPES: tuple[CallType, ...] = ("video", "video-only", "audio")
TEMPLATE_ID_MAX = 2**31 - 1

Value = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""A name, alias, destination or file name: never empty, no surrounding whitespace."""

BaseCommand = Command


class ParticipantRef(BaseModel):
    """A participant as typed: an id or a name, optionally narrowed to a conference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: Value
    conference: Value | None = None

    def to_text(self) -> str:
        """`"Alice Parkes" in VMR_1`, or just the quoted query."""
        if self.conference is None:
            return quote(self.query)
        return f"{quote(self.query)} in {quote(self.conference)}"


class ParticipantCommand(Command):
    """A command on one participant."""

    participant: ParticipantRef

    def _arguments(self) -> tuple[str, ...]:
        return (self.participant.to_text(),)


class ConferenceCommand(Command):
    """A command on one whole conference."""

    conference: Value

    def _arguments(self) -> tuple[str, ...]:
        return (quote(self.conference),)
