"""The steps a command takes, as calls into `bot/`: authorize, resolve, send.

Handlers in participants.py, conferences.py... are a few lines each on top of `Context`, and
return an outcome (`Done`, `Listing`, `Confirm`); every failure is an exception that the runner
turns into the right message and audit entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.mrkdwn import Mrkdwn
from bot.permissions import ConferenceScope, Decision, scope_covers
from bot.pexip import configuration, errors, lookup, status
from bot.pexip.client import Readable
from bot.pexip.commands import Command as PexipCommand
from bot.pexip.models import CommandResult, Conference, ConfiguredConference, Participant
from bot.resolve import IdleConference, NoMatch, Visible, find_conference, find_participant
from bot.services import Services
from handlers.commands import ParticipantRef
from handlers.replies import Interaction, Message, Replies


class Denied(Exception):
    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.detail)
        self.decision = decision


class CommandFailed(Exception):
    """A command reached (or may have reached) the node and did not succeed."""

    def __init__(self, action: Mrkdwn, error: errors.PexipError) -> None:
        super().__init__(error.message)
        self.action = action
        self.error = error


class Reported(Exception):
    """A job failed, and its own report (said in the channel) tells why: e.g. `backup now`."""

    def __init__(self, message: Message, detail: str) -> None:
        super().__init__(detail)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Done:
    """A command succeeded: said in the channel. `follow_up(ts)` runs once it is posted."""

    message: Message
    target: str
    detail: str = ""
    follow_up: Callable[[str | None], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Listing:
    """A listing or help text: shown only to the person who asked."""

    message: Message
    target: str = ""


@dataclass(frozen=True)
class Confirm:
    """A change of many things at once: shown privately with a button to go ahead."""

    message: Message
    target: str


@dataclass(frozen=True)
class Shown:
    """A form was opened: nothing to post, nothing attempted yet."""

    target: str


Outcome = Done | Listing | Confirm | Shown


def participant_target(participant: Participant) -> str:
    return f"{participant.label} ({participant.conference})"


@dataclass
class Context:
    services: Services
    interaction: Interaction
    replies: Replies
    reference: str
    confirmed: bool = False
    target: str = ""
    _scopes: dict[str, ConferenceScope] = field(default_factory=dict)

    @property
    def user(self) -> str:
        return self.interaction.user_id

    async def require(
        self, permission: str, conference: str | None = None, *, shown: str | None = None
    ) -> None:
        """Deny unless the user holds `permission` (on `conference`, when given). A denial names
        the conference as `shown` (what the user typed) when given.

        Aliases are only looked up when the name alone is out of the user's scope, so an
        unscoped role costs no extra call; then they come from one listing shared for a short
        time (`bot.conference_aliases`), not one request per conference."""
        authorizer = self.services.authorizer
        channel = self.interaction.channel_id
        scope = None if conference is None else ConferenceScope(name=conference, aliases=())
        decision = await authorizer.check(
            self.user, permission, channel_id=channel, conference=scope, shown=shown
        )
        if not decision.allowed and decision.reason == "out_of_scope" and conference is not None:
            scope = await self._scope(conference)
            decision = await authorizer.check(
                self.user, permission, channel_id=channel, conference=scope, shown=shown
            )
        if not decision.allowed:
            raise Denied(decision)

    async def _scope(self, name: str) -> ConferenceScope:
        if name not in self._scopes:
            aliases = await self.services.conference_aliases.of(name)
            self._scopes[name] = ConferenceScope(name=name, aliases=aliases)
        return self._scopes[name]

    async def visible(self, permission: str) -> Visible | None:
        """For a user whose `permission` is limited to some conferences: which conferences'
        participants they may see (None: every conference). The alias listing is read here,
        before anything is looked up, so what follows costs the same calls whatever matches."""
        profile = await self.services.authorizer.profile(self.user)
        patterns = profile.scopes(permission)
        if patterns is None:
            return None
        aliases = await self.services.conference_aliases.snapshot()

        def covers(name: str) -> bool:
            return scope_covers(patterns, ConferenceScope(name=name, aliases=aliases.get(name, ())))

        return covers

    async def conference(self, text: str, permission: str) -> Conference:
        """The running conference meant, once the user may act on it. Out of scope, it is named
        only as typed (an alias must not reveal what it belongs to)."""
        try:
            found = await find_conference(self.services.pexip, text)
        except IdleConference as idle:
            service = idle.service
            self._scopes[service.name] = ConferenceScope(
                name=service.name, aliases=service.alias_names
            )
            await self.require(permission, service.name, shown=text)
            raise
        self.target = found.name
        shown = found.name if lookup.is_uuid(text) else text  # a button's id: its name
        await self.require(permission, found.name, shown=shown)
        return found

    async def participant(self, ref: ParticipantRef, permission: str) -> Participant:
        """The one participant meant, once the user may act on its conference. A scoped user
        finds only participants of conferences in their scope (INTERFACE §5)."""
        visible = await self.visible(permission)
        within = None
        if ref.conference is not None and not lookup.is_uuid(ref.query):
            within = await self.conference(ref.conference, permission)
        found = await find_participant(
            self.services.pexip, ref.query, within=within, visible=visible
        )
        self.target = participant_target(found)
        await self.require(permission, found.conference)
        return found

    async def service_for_alias(self, alias: str, permission: str) -> ConfiguredConference:
        """The configured service an alias dials into (running or not), once allowed."""
        service = await self.alias_service(alias)
        if service is None:
            raise NoMatch(f"no conference has the alias {alias}")
        await self.require(permission, service.name, shown=alias)
        return service

    async def alias_service(self, alias: str) -> ConfiguredConference | None:
        """The configured service an alias dials into, if any (its aliases remembered)."""
        try:
            service = await configuration.conference_for_alias(self.services.pexip, alias)
        except errors.NotFound:
            return None
        self._scopes[service.name] = ConferenceScope(name=service.name, aliases=service.alias_names)
        return service

    async def participants_of(self, conference: Conference) -> Readable[Participant]:
        """Its participants, and how many the node sent that could not be read."""
        return await status.participant_list(self.services.pexip, conference.name)

    async def send(self, command: PexipCommand, action: Mrkdwn) -> CommandResult:
        """Send a command; a failure names the action for the channel."""
        try:
            return await self.services.pexip.command(command)
        except errors.PexipError as exc:
            raise CommandFailed(action, exc) from exc
