"""The steps a command takes, as calls into `bot/`: resolve (within the grant the runner's
one authorization made), send.

Executors in participants.py, conferences.py... are a few lines each on top of `Context`, and
return an outcome (`Done`, `Listing`, `Confirm`, `Shown`) that names the audit target; every
failure is an exception, carrying the target when one was resolved, that the runner turns into
the right message and audit entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot import messages
from bot.auth.permissions import ConferenceScope, Decision, Grant, scope_covers
from bot.pexip import configuration, errors, lookup, status
from bot.pexip.client import Readable
from bot.pexip.commands import Command as PexipCommand
from bot.pexip.models import CommandResult, Conference, ConfiguredConference, Participant
from bot.pexip.resolve import IdleConference, NoMatch, Visible, find_conference, find_participant
from bot.services import Services
from bot.slack.mrkdwn import Mrkdwn, mention, render
from bot.slack.replies import Interaction, Message, Replies
from handlers.commands import ParticipantRef
from handlers.registry import REGISTRY, Command, Said


class Denied(Exception):
    """Not allowed: on `target`, when the conference was found first."""

    def __init__(self, decision: Decision, target: str = "") -> None:
        super().__init__(decision.detail)
        self.decision = decision
        self.target = target


class CommandFailed(Exception):
    """A command reached (or may have reached) the node and did not succeed."""

    def __init__(self, action: Mrkdwn, error: errors.PexipError, target: str) -> None:
        super().__init__(error.message)
        self.action = action
        self.error = error
        self.target = target


class Reported(Exception):
    """A job failed, and its own report (said in the channel) tells why: e.g. `backup now`."""

    def __init__(self, message: Message, detail: str, target: str) -> None:
        super().__init__(detail)
        self.message = message
        self.detail = detail
        self.target = target


class NeedsApproval(Exception):
    """The policy asks a second person to approve this command (INTERFACE §5 `approval`): raised
    just before the node would be called, once everything is resolved within the grant.
    `command` is the command with its participant and conference pinned to the ids found, so
    the approved command acts on what was asked about; `conferences` are those the approver's
    permission must cover (none for a node-wide command)."""

    def __init__(
        self, action: Mrkdwn, target: str, command: Command, conferences: tuple[str, ...]
    ) -> None:
        super().__init__(action)
        self.action = action
        self.target = target
        self.command = command
        self.conferences = conferences


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


def _said(command: Command) -> Said:
    said = REGISTRY.of(command).said
    if said is None:
        raise LookupError(f"{type(command).__name__} declares no wording")
    return said


def participant_target(participant: Participant) -> str:
    return f"{participant.label} ({participant.conference})"


@dataclass
class Context:
    """One command for one person: `grant` is what the runner's authorization allowed."""

    services: Services
    interaction: Interaction
    replies: Replies
    reference: str
    grant: Grant
    confirmed: bool = False
    command: Command | None = None  # what runs (for an approval request: pinned to the ids)
    approved_by: str | None = None  # set when a second person approved this run
    _scopes: dict[str, ConferenceScope] = field(default_factory=dict)
    _covered: list[str] = field(default_factory=list)  # conferences the grant was checked on
    _found: dict[str, str] = field(default_factory=dict)  # "participant"/"conference" → id

    @property
    def user(self) -> str:
        return self.interaction.user_id

    async def require(self, conference: str, *, shown: str | None = None, target: str = "") -> None:
        """Deny unless the grant covers `conference` (the scope part of the one authorization).
        A denial names the conference as `shown` (what the user typed) when given, and is
        audited on `target`.

        Aliases are only looked up when the name alone is out of the user's scope, so an
        unscoped role costs no extra call; then they come from one listing shared for a short
        time (`bot.auth.aliases`), not one request per conference."""
        decision = self.grant.covers(ConferenceScope(name=conference, aliases=()), shown)
        if not decision.allowed:
            decision = self.grant.covers(await self._scope(conference), shown)
        if not decision.allowed:
            raise Denied(decision, target)
        if conference not in self._covered:
            self._covered.append(conference)

    async def allowed(self, conference: str | None = None) -> set[str]:
        """The permissions the viewer holds (on `conference`): the buttons a listing offers."""
        return {p for p in REGISTRY.permissions() if await self.may(p, conference)}

    def done(self, command: Command, target: str) -> Mrkdwn:
        """ "<@U1> muted Alice Parkes in VMR_1.": the declared wording, in the channel (the
        target made literal unless rendered already); "(approved by <@U2>)" after an approval."""
        said = messages.done(self.user, render(_said(command).done, target=target))
        if self.approved_by is None:
            return said
        return render("{} (approved by {})", said, mention(self.approved_by))

    async def approval_first(self, action: Mrkdwn, target: str) -> None:
        """Raise `NeedsApproval` when the policy wants a second person for this command and none
        has approved this run yet; called before any change reaches the node (`send` does)."""
        command = self.command
        if self.approved_by is not None or command is None:
            return
        if self.services.authorizer.policy.approval_for(self.grant.permission) is None:
            return
        if REGISTRY.of(command).kind != "action":
            return
        raise NeedsApproval(action, target, self._pinned(command), tuple(self._covered))

    def _pinned(self, command: Command) -> Command:
        """The command with the participant and conference it was resolved to, by id."""
        fields = type(command).model_fields
        update: dict[str, object] = {}
        if "participant" in fields and "participant" in self._found:
            update["participant"] = ParticipantRef(query=self._found["participant"])
        if "conference" in fields and "conference" in self._found:
            update["conference"] = self._found["conference"]
        return command.model_copy(update=update) if update else command

    def attempt(self, command: Command, target: str) -> Mrkdwn:
        """ "mute Alice Parkes in VMR_1": what a failure says was tried."""
        return render(_said(command).attempt, target=target)

    async def may(self, permission: str, conference: str | None = None) -> bool:
        """Whether the user could run commands needing `permission` (on `conference`): which
        buttons a listing offers them. Not an authorization: each click is authorized."""
        scope = None if conference is None else ConferenceScope(name=conference, aliases=())
        authorizer, channel = self.services.authorizer, self.interaction.channel_id
        decision = await authorizer.check(
            self.user, permission, channel_id=channel, conference=scope
        )
        if not decision.allowed and decision.reason == "out_of_scope" and conference is not None:
            scope = await self._scope(conference)
            decision = await authorizer.check(
                self.user, permission, channel_id=channel, conference=scope
            )
        return decision.allowed

    async def _scope(self, name: str) -> ConferenceScope:
        if name not in self._scopes:
            aliases = await self.services.conference_aliases.of(name)
            self._scopes[name] = ConferenceScope(name=name, aliases=aliases)
        return self._scopes[name]

    async def visible(self) -> Visible | None:
        """For a user whose grant is limited to some conferences: which conferences'
        participants they may see (None: every conference). The alias listing is read here,
        before anything is looked up, so what follows costs the same calls whatever matches."""
        patterns = self.grant.conferences
        if patterns is None:
            return None
        aliases = await self.services.conference_aliases.snapshot()

        def covers(name: str) -> bool:
            return scope_covers(patterns, ConferenceScope(name=name, aliases=aliases.get(name, ())))

        return covers

    async def conference(self, text: str) -> Conference:
        """The running conference meant, once the grant covers it. Out of scope, it is named
        only as typed (an alias must not reveal what it belongs to)."""
        try:
            found = await find_conference(self.services.pexip, text)
        except IdleConference as idle:
            service = idle.service
            self._scopes[service.name] = ConferenceScope(
                name=service.name, aliases=service.alias_names
            )
            await self.require(service.name, shown=text)
            raise
        shown = found.name if lookup.is_uuid(text) else text  # a button's id: its name
        await self.require(found.name, shown=shown, target=found.name)
        self._found.setdefault("conference", found.id)
        return found

    async def participant(self, ref: ParticipantRef) -> Participant:
        """The one participant meant, once the grant covers its conference. A scoped user
        finds only participants of conferences in their scope (INTERFACE §5)."""
        visible = await self.visible()
        within = None
        if ref.conference is not None and not lookup.is_uuid(ref.query):
            within = await self.conference(ref.conference)
        found = await find_participant(
            self.services.pexip, ref.query, within=within, visible=visible
        )
        await self.require(found.conference, target=participant_target(found))
        self._found["participant"] = found.id
        return found

    async def service_for_alias(self, alias: str, target: str = "") -> ConfiguredConference:
        """The configured service an alias dials into (running or not), once covered."""
        service = await self.alias_service(alias)
        if service is None:
            raise NoMatch(f"no conference has the alias {alias}")
        await self.require(service.name, shown=alias, target=target)
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

    async def send(self, command: PexipCommand, action: Mrkdwn, target: str) -> CommandResult:
        """Send a command (once approved, when the policy asks for that); a failure names the
        action for the channel, and its audit target."""
        await self.approval_first(action, target)
        try:
            return await self.services.pexip.command(command)
        except errors.PexipError as exc:
            raise CommandFailed(action, exc, target) from exc
