"""Typed slash commands: what `handlers.grammar.parse` returns.

Every model is frozen and names, as class variables, its grammar `word` and the `permission`
it needs (INTERFACE.md section 5; `None` for `help` and `whoami`, which are always allowed).
`to_text()` writes a command back as the text after the slash command; it parses to an equal
model.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from bot.policy import ALWAYS_ALLOWED, PERMISSIONS
from handlers.tokens import quote

COMMAND_WORDS: tuple[str, ...] = (
    *ALWAYS_ALLOWED,
    *(permission for permission in PERMISSIONS if permission != "restore"),
)
"""The command words, in the order of the grammar: each permission names its command word,
but `restore`, which is `backup restore`; `help` and `whoami` need none."""

Role = Literal["chair", "guest"]
Protocol = Literal["sip", "h323", "mssip", "rtmp", "gms", "teams"]
CallType = Literal["video", "video-only", "audio"]
ROLES: tuple[Role, ...] = ("chair", "guest")
PROTOCOLS: tuple[Protocol, ...] = ("sip", "h323", "mssip", "rtmp", "gms", "teams")
CALL_TYPES: tuple[CallType, ...] = ("video", "video-only", "audio")
TEMPLATE_ID_MAX = 2**31 - 1

Value = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""A name, alias, destination or file name: never empty, no surrounding whitespace."""


class BaseCommand(BaseModel):
    """A parsed slash command."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    word: ClassVar[str]
    permission: ClassVar[str | None]
    opens_form: ClassVar[bool] = False  # Slack's trigger id for it expires 3 s after the click

    def to_text(self) -> str:
        """The command as text to type after the slash command."""
        return " ".join((self.word, *self._arguments()))

    def _arguments(self) -> tuple[str, ...]:
        return ()


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


class Help(BaseCommand):
    """`help [command]`: the list of commands, or how to use one."""

    word = "help"
    permission = None

    topic: str | None = None

    @field_validator("topic")
    @classmethod
    def _known_word(cls, topic: str | None) -> str | None:
        if topic is not None and topic not in COMMAND_WORDS:
            raise ValueError("not a command word")
        return topic

    def _arguments(self) -> tuple[str, ...]:
        return () if self.topic is None else (self.topic,)


class WhoAmI(BaseCommand):
    """`whoami`: who the user is to the bot and what they may do."""

    word = "whoami"
    permission = None


class Conferences(BaseCommand):
    """`conferences`: list the running conferences."""

    word = "conferences"
    permission = "conferences"


class Participants(BaseCommand):
    """`participants <conference>`: list a conference's participants."""

    word = "participants"
    permission = "participants"

    conference: Value

    def _arguments(self) -> tuple[str, ...]:
        return (quote(self.conference),)


class OpenDialModal(BaseCommand):
    """`dial` with no arguments: the app opens a form."""

    word = "dial"
    permission = "dial"
    opens_form = True


class Dial(BaseCommand):
    """`dial <conference-alias> <destination> [options]`: call out from a conference."""

    word = "dial"
    permission = "dial"

    conference_alias: Value
    destination: Value
    role: Role = "guest"
    protocol: Protocol = "sip"
    call_type: CallType = "video"
    location: Value | None = None
    node: IPv4Address | IPv6Address | None = None
    name: Value | None = None

    def _arguments(self) -> tuple[str, ...]:
        options = tuple(
            f"{key}={quote(str(value))}"
            for key, value in self._options().items()
            if value != type(self).model_fields[key].default
        )
        return (quote(self.conference_alias), quote(self.destination), *options)

    def _options(self) -> dict[str, object]:
        return self.model_dump(exclude={"conference_alias", "destination"})


class ParticipantCommand(BaseCommand):
    """A command on one participant."""

    participant: ParticipantRef

    def _arguments(self) -> tuple[str, ...]:
        return (self.participant.to_text(),)


class Mute(ParticipantCommand):
    """`mute <participant>`."""

    word = "mute"
    permission = "mute"


class Unmute(ParticipantCommand):
    """`unmute <participant>`."""

    word = "unmute"
    permission = "unmute"


class Disconnect(ParticipantCommand):
    """`disconnect <participant>`."""

    word = "disconnect"
    permission = "disconnect"


class Admit(ParticipantCommand):
    """`admit <participant>`: let in a participant who is waiting."""

    word = "admit"
    permission = "admit"


class Transfer(BaseCommand):
    """`transfer <participant> to <conference-alias> [role=]`; `role` None sends none."""

    word = "transfer"
    permission = "transfer"

    participant: ParticipantRef
    to_alias: Value
    role: Role | None = None

    def _arguments(self) -> tuple[str, ...]:
        role = () if self.role is None else (f"role={self.role}",)
        return (self.participant.to_text(), "to", quote(self.to_alias), *role)


class ConferenceCommand(BaseCommand):
    """A command on one whole conference."""

    conference: Value

    def _arguments(self) -> tuple[str, ...]:
        return (quote(self.conference),)


class Lock(ConferenceCommand):
    """`lock <conference>`."""

    word = "lock"
    permission = "lock"


class Unlock(ConferenceCommand):
    """`unlock <conference>`."""

    word = "unlock"
    permission = "unlock"


class MuteGuests(ConferenceCommand):
    """`mute-guests <conference>`."""

    word = "mute-guests"
    permission = "mute-guests"


class UnmuteGuests(ConferenceCommand):
    """`unmute-guests <conference>`."""

    word = "unmute-guests"
    permission = "unmute-guests"


class End(ConferenceCommand):
    """`end <conference>`: disconnect everyone (the app asks to confirm first)."""

    word = "end"
    permission = "end"


class Sync(BaseCommand):
    """`sync <template-id>`: run a VMR sync template."""

    word = "sync"
    permission = "sync"

    template_id: Annotated[int, Field(ge=1, le=TEMPLATE_ID_MAX)]

    def _arguments(self) -> tuple[str, ...]:
        return (str(self.template_id),)


class BackupNow(BaseCommand):
    """`backup now`."""

    word = "backup"
    permission = "backup"

    def _arguments(self) -> tuple[str, ...]:
        return ("now",)


class BackupList(BaseCommand):
    """`backup list`."""

    word = "backup"
    permission = "backup"

    def _arguments(self) -> tuple[str, ...]:
        return ("list",)


class BackupRestore(BaseCommand):
    """`backup restore <filename>` (the app asks to confirm first)."""

    word = "backup"
    permission = "restore"

    filename: Value

    def _arguments(self) -> tuple[str, ...]:
        return ("restore", quote(self.filename))


Command: TypeAlias = (
    Help
    | WhoAmI
    | Conferences
    | Participants
    | OpenDialModal
    | Dial
    | Mute
    | Unmute
    | Disconnect
    | Admit
    | Transfer
    | Lock
    | Unlock
    | MuteGuests
    | UnmuteGuests
    | End
    | Sync
    | BackupNow
    | BackupList
    | BackupRestore
)
"""Any parsed slash command."""
