"""Bolt listeners: acknowledge at once, turn the payload into an `Interaction` and a command,
and queue both for the runner (`bot.command_queue`). No policy, wording or HTTP here."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.command_queue import Command
from bot.services import Services
from bot.slack_limits import OPTION_TEXT, OPTION_VALUE, OPTIONS, clip, units
from handlers import blocks, modals, runner
from handlers.participants import OpenTransferForm
from handlers.replies import Interaction, Replies, Source

log = logging.getLogger(__name__)

# Buttons whose Slack confirm dialog has already asked "are you sure?".
CONFIRMED_BY_DIALOG = {"conference_end", "participant_disconnect"}
OPTIONS_DEADLINE = 2.5  # options must be answered inside Slack's 3 s


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


class Listeners:
    """One instance per app; each method is a Bolt listener (arguments injected by name).

    A listener acknowledges, reads the payload and queues the command (`Services.commands`):
    it returns at once, and what Bolt made for the request is freed while the command waits.
    """

    def __init__(self, services: Services) -> None:
        self.services = services

    def _queue(self, command: Command, *, at_once: bool = False) -> None:
        self.services.commands.submit(command, at_once=at_once)

    async def slash(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        interaction = Interaction(
            user_id=str(body.get("user_id", "")),
            channel_id=body.get("channel_id"),
            team_id=str(body.get("team_id", "")),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
            enterprise_id=_enterprise(body),
        )
        text = str(body.get("text", ""))
        command = runner.read(text, self.services.slash)
        self._queue(
            partial(runner.run_read, self.services, client, interaction, text, command),
            at_once=runner.opens_form(command),
        )

    async def button(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A listing button, a confirmation, a pick among several matches, Retry now."""
        await ack()
        action = body["actions"][0]
        action_id = str(action.get("action_id", ""))
        command, refresh = blocks.read_button_value(str(action.get("value", "")))
        source: Source = "button"
        if action_id == "confirm":
            source = "confirm"
        elif action_id.startswith("pick_"):
            source = "pick"
        confirmed = source == "confirm" or action_id in CONFIRMED_BY_DIALOG
        interaction = from_action(body, source, refresh)
        run = partial(runner.run_text, self.services, client, interaction, command)
        self._queue(partial(run, confirmed=confirmed))

    async def cancel(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        self._queue(Replies(client, from_action(body, "button")).delete_source)

    async def transfer_button(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Opens the transfer form (after checking the clicker may transfer)."""
        await ack()
        value = blocks.read_transfer_value(str(body["actions"][0].get("value", "")))
        interaction = from_action(body, "button", value.refresh)
        form = OpenTransferForm(participant_id=value.participant_id, label=value.label)
        self._queue(partial(runner.run, self.services, client, interaction, form), at_once=True)

    async def dial_submitted(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        interaction = from_view(body)
        try:
            command = modals.read_dial(body["view"], self.services.default_location)
        except modals.FormErrors as exc:
            await ack(response_action="errors", errors=exc.errors)
            await runner.audit_invalid(self.services, interaction, "dial", "dial form", str(exc))
            return
        await ack()
        self._queue(partial(runner.run, self.services, client, interaction, command))

    async def transfer_submitted(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        interaction = from_view(body)
        participant_id = str(modals.read_metadata(body["view"]).get("participant", ""))
        try:
            command = modals.read_transfer(body["view"], participant_id)
        except modals.FormErrors as exc:
            await ack(response_action="errors", errors=exc.errors)
            await runner.audit_invalid(
                self.services, interaction, "transfer", "transfer form", str(exc)
            )
            return
        await ack()
        self._queue(partial(runner.run, self.services, client, interaction, command))

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
