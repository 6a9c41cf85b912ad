"""Bolt listeners: acknowledge, turn the payload into an `Interaction` and a typed command (the
parse step: typed text, a button's value, a form), and queue both for the runner
(`bot.command_queue`); the app answers Slack as a listener returns (`process_before_response`),
well under a millisecond after the request is read. No policy, wording or HTTP here."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltRequest
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.command_queue import Command as Queued
from bot.services import Services
from bot.slack.limits import OPTION_TEXT, OPTION_VALUE, OPTIONS, clip, units
from bot.slack.replies import Interaction, Replies, Source
from bot.store.once import DOOR_CLAIM
from handlers import approvals, modals, recorded, runner
from handlers.dialling import Dial
from handlers.grammar import UsageError
from handlers.participants import Transfer
from handlers.registry import REGISTRY, Command, StaleButton, decode, encode

log = logging.getLogger(__name__)

CONFIRM = "confirm"  # the button of a confirmation: any command declared `confirm=True`
PICK = "pick_"  # one per candidate when a name is ambiguous: any command on a participant
OPTIONS_DEADLINE = 2.5  # options must be answered inside Slack's 3 s


def _offered(action_id: str, command: Command) -> None:
    """A button may carry only what its action id offers: its declared command, a command that
    asks for confirmation (the confirmation's button), a command on a participant (a pick)."""
    fields = type(command).model_fields
    if action_id == CONFIRM and REGISTRY.of(command).confirm:
        return
    if action_id.startswith(PICK) and action_id[len(PICK) :].isdigit() and "participant" in fields:
        return
    if REGISTRY.offered_by(action_id) is REGISTRY.of(command):
        return
    raise StaleButton(f"{action_id} does not offer {command.key}")


def _value(action: dict[str, Any]) -> str:
    """A button's value, or the chosen option's of a choice (the layouts)."""
    selected = action.get("selected_option")
    if isinstance(selected, dict):
        return str(selected.get("value", ""))
    return str(action.get("value", ""))


def _dialog(model: type[Command], action_id: str) -> bool:
    """Slack's own confirm dialog asked "are you sure?" before this click reached the bot."""
    return REGISTRY.offer(model, action_id).dialog


def _team(body: dict[str, Any]) -> str:
    team = body.get("team")
    return str(team.get("id", "")) if isinstance(team, dict) else str(body.get("team_id", ""))


def _user_team(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("team_id") or "") if isinstance(user, dict) else ""


def _enterprise(body: dict[str, Any]) -> str:
    enterprise = body.get("enterprise")
    if isinstance(enterprise, dict):
        return str(enterprise.get("id") or "")
    return str(body.get("enterprise_id") or "")


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict) and channel.get("id"):
        return str(channel["id"])
    container = body.get("container")
    if isinstance(container, dict) and container.get("channel_id"):
        return str(container["channel_id"])
    return None


def from_action(body: dict[str, Any], source: Source, refresh: str | None = None) -> Interaction:
    return Interaction(
        user_id=str(body["user"]["id"]),
        channel_id=_channel(body),
        team_id=_team(body),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
        source=source,
        refresh=refresh,
        user_team_id=_user_team(body),
        enterprise_id=_enterprise(body),
    )


def from_view(body: dict[str, Any]) -> Interaction:
    meta = modals.read_metadata(body.get("view") or {})
    channel = meta.get("channel")
    return Interaction(
        user_id=str(body["user"]["id"]),
        channel_id=str(channel) if channel else None,
        team_id=_team(body),
        response_url=_text(meta.get("response_url")),
        source="modal",
        refresh=_text(meta.get("refresh")),
        user_team_id=_user_team(body),
        enterprise_id=_enterprise(body),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def first_time() -> bool:
    """False when the request being handled is a replay (its signature accepted before): then
    nothing happens, and the HTTP door answers 401. Asked before anything a listener makes
    happen; on PostgreSQL the door leaves the claim open (`DOOR_CLAIM`) so that a command's
    record carries it (one round trip for both), and this decides it if nothing did."""
    claim = DOOR_CLAIM.get()
    return claim is None or await claim.won()


class Listeners:
    """One instance per app; each method is a Bolt listener (arguments injected by name).

    A listener acknowledges, reads the payload and queues the command (`Services.commands`):
    it returns at once, and what Bolt made for the request (its client too: `_lasting`) is
    freed while the command waits.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._clients: dict[tuple[str | None, Any], AsyncWebClient] = {}

    def _lasting(self, client: AsyncWebClient) -> AsyncWebClient:
        """The Web API client a queued command keeps: the first Bolt made for this token and
        workspace, not its own request's. Bolt makes one per request (the app's token, session
        and settings, the workspace as `team_id`); kept by each waiting command, they were ~3
        objects more per command for the garbage collector, whose collections in a burst
        stalled every acknowledgement in flight (bench/: the `baseline` case)."""
        key = (client.token, client.default_params.get("team_id"))
        return self._clients.setdefault(key, client)

    async def _queue(self, command: Queued, *, at_once: bool = False) -> None:
        """Queue it, unless the request is a replay (`first_time`)."""
        if await first_time():
            self.services.commands.submit(command, at_once=at_once)

    async def _record_and_queue(
        self,
        client: AsyncWebClient,
        interaction: Interaction,
        command: Command | UsageError | None,
        *,
        typed: str = "",
        confirmed: bool = False,
    ) -> None:
        """Record the command (before the listener returns, so before Slack hears it is
        acknowledged), then queue it: if this process dies, another finishes it. None: the
        `typed` text, read when its turn comes."""
        client = self._lasting(client)
        journal = self.services.journal
        entry = None
        if journal is not None:
            entry = await journal.record(
                recorded.KIND,
                recorded.payload(interaction, command, typed, confirmed),
                DOOR_CLAIM.get(),  # decided by the same write: one round trip for both
            )
        await self._queue(
            partial(
                recorded.run_recorded,
                self.services,
                client,
                entry,
                interaction,
                command,
                typed=typed,
                confirmed=confirmed,
            )
        )

    async def slash(self, request: AsyncBoltRequest) -> None:
        """Takes Bolt's request alone (its context holds `ack` and `client`): Bolt builds a
        listener's arguments by name for every request, each name checked against every
        argument it offers, and this one runs for every command typed."""
        context = request.context
        await context.ack()
        body: dict[str, Any] = request.body
        client = context.client
        interaction = Interaction(
            user_id=str(body.get("user_id", "")),
            channel_id=body.get("channel_id"),
            team_id=str(body.get("team_id", "")),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
            enterprise_id=_enterprise(body),
        )
        text = str(body.get("text", ""))
        if not runner.may_open_form(text):  # read when its turn comes: the answer leaves now
            await self._record_and_queue(client, interaction, None, typed=text)
            return
        command = runner.read(text, self.services.slash)
        if runner.opens_form(command):
            run = partial(runner.run, self.services, client, interaction, command, typed=text)
            await self._queue(run, at_once=True)
            return
        await self._record_and_queue(client, interaction, command, typed=text)

    async def button(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A listing button, a confirmation, a pick among several matches, Retry now: the value
        is the typed command, validated back into its model; no text is parsed."""
        await ack()
        action = body["actions"][0]
        action_id = str(action.get("action_id", ""))
        source: Source = "confirm" if action_id == CONFIRM else "button"
        source = "pick" if action_id.startswith(PICK) else source
        try:
            clicked = decode(_value(action))
            _offered(action_id, clicked.command)
        except StaleButton as exc:
            log.info("a click on a button this version cannot read (%s): %s", action_id, exc)
            interaction = from_action(body, source)
            client = self._lasting(client)
            stale = partial(runner.stale_button, self.services, client, interaction, action_id)
            await self._queue(stale)
            return
        refresh = None if clicked.refresh is None else encode(clicked.refresh)
        interaction = from_action(body, source, refresh)
        offer = REGISTRY.offered_by(action_id)
        confirmed = source == "confirm" or (offer is not None and _dialog(offer.model, action_id))
        command = clicked.command
        if command.opens_form:
            run = partial(runner.run, self.services, client, interaction, command)
            await self._queue(run, at_once=True)
            return
        await self._record_and_queue(client, interaction, command, confirmed=confirmed)

    async def decision(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Approve or Reject on an approval request: the value is the request's ref."""
        await ack()
        action = body["actions"][0]
        approve = action.get("action_id") == approvals.APPROVE
        ref = str(action.get("value", ""))[:32]
        interaction = from_action(body, "button")
        client = self._lasting(client)
        await self._queue(
            partial(runner.run_decision, self.services, client, interaction, ref, approve)
        )

    async def cancel(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await self._queue(Replies(self._lasting(client), from_action(body, "button")).delete_source)

    async def dial_submitted(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        interaction = from_view(body)
        try:
            modals.require_origin(interaction.channel_id, interaction.response_url, "conference")
            command = modals.read_dial(body["view"], self.services.default_location, Dial)
        except modals.FormErrors as exc:
            await ack(response_action="errors", errors=exc.errors)
            if await first_time():
                await runner.audit_invalid(
                    self.services, interaction, "dial", "dial form", str(exc)
                )
            return
        await ack()
        await self._record_and_queue(client, interaction, command)

    async def transfer_submitted(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        interaction = from_view(body)
        participant_id = str(modals.read_metadata(body["view"]).get("participant", ""))
        try:
            modals.require_origin(interaction.channel_id, interaction.response_url, "to_alias")
            command = modals.read_transfer(body["view"], participant_id, Transfer)
        except modals.FormErrors as exc:
            await ack(response_action="errors", errors=exc.errors)
            if await first_time():
                await runner.audit_invalid(
                    self.services, interaction, "transfer", "transfer form", str(exc)
                )
            return
        await ack()
        await self._record_and_queue(client, interaction, command)

    async def conference_options(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """The forms' conference picker; the person typing must hold dial (or transfer)."""
        callback = str((body.get("view") or {}).get("callback_id", ""))
        permission = "transfer" if callback == modals.TRANSFER_CALLBACK else "dial"
        interaction = from_view(body)
        try:
            choices = await asyncio.wait_for(
                runner.choices(
                    self.services, client, interaction, permission, str(body.get("value", ""))
                ),
                OPTIONS_DEADLINE,
            )
        except TimeoutError:
            log.warning("conference options: the management node did not answer in time")
            choices = []
        fitting = [(label, value) for label, value in choices if units(value) <= OPTION_VALUE]
        await ack(
            options=[
                {"text": {"type": "plain_text", "text": clip(label, OPTION_TEXT)}, "value": value}
                for label, value in fitting[:OPTIONS]
            ]
        )

    async def unhandled(
        self, error: Exception, body: dict[str, Any], client: AsyncWebClient
    ) -> BoltResponse | None:
        """Bolt's error handler. A request no listener takes (a button of an older version, an
        event the app did not subscribe to) is acknowledged, not answered 404 (Slack would show
        the clicker an error and retry an event); a click on it is answered privately that the
        button is out of date. Any other error is logged, as Bolt's own handler does."""
        if not isinstance(error, BoltUnhandledRequestError):
            log.error("handling a Slack request failed: %s", error, exc_info=error)
            return None
        kind = str(body.get("type", ""))
        actions = body.get("actions")
        if kind == "block_actions" and isinstance(actions, list) and actions:
            log.info(
                "a click on an unknown button (%s): answered that it is out of date",
                actions[0].get("action_id"),
            )
            interaction = from_action(body, "button")
            action_id = str(actions[0].get("action_id", ""))
            client = self._lasting(client)
            await self._queue(
                partial(runner.stale_button, self.services, client, interaction, action_id)
            )
        else:
            event = body.get("event")
            detail = event.get("type") if isinstance(event, dict) else body.get("command")
            log.info("acknowledged a request nobody listens for: %s %s", kind, detail or "")
        if kind == "block_suggestion":
            return BoltResponse(status=200, body={"options": []})
        return BoltResponse(status=200, body="")
