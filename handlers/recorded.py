"""Acknowledged commands recorded until answered (`bot.coordination.journal`), so that a
process that dies does not take them with it (INTERFACE 10).

A listener records the command before it returns (Slack gets its acknowledgement as the
listener returns), then queues it; the queued run marks the record done once answered. Another
process that finds the record orphaned calls `rerun` (nothing had been sent to the node: the
command runs there, through the same one path) or `unknown` (a change may have reached the
node: the channel is told so; it is never sent again).

The record holds what the path needs: the `Interaction` (who, where, how to answer) and the
typed command as its model's JSON under its key, or the typed text when it did not parse (a
usage message is an answer too).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.coordination.journal import Entry, Journal, running
from bot.coordination.recovery import Recovery
from bot.services import Services
from bot.slack.replies import Interaction, Message, Replies
from bot.store.audit import new_correlation_id
from handlers import runner
from handlers.grammar import UsageError
from handlers.registry import REGISTRY, Command, StaleButton

log = logging.getLogger(__name__)

KIND = "command"


def payload(
    interaction: Interaction, command: Command | UsageError | None, typed: str, confirmed: bool
) -> dict[str, Any]:
    """What the record holds; without a typed model (a usage error, or text read at its turn)
    the typed text, read again when it runs."""
    recorded: dict[str, Any] = {
        "interaction": dataclasses.asdict(interaction),
        "typed": typed,
        "confirmed": confirmed,
    }
    if isinstance(command, Command):
        recorded["key"] = command.key
        recorded["arguments"] = command.model_dump(mode="json")
        recorded["text"] = command.to_text()
    else:
        recorded["text"] = typed
    return recorded


def read(recorded: dict[str, Any], slash: str) -> tuple[Interaction, Command | UsageError]:
    interaction = Interaction(**recorded["interaction"])
    if "key" not in recorded:
        return interaction, runner.read(str(recorded.get("typed", "")), slash)
    spec = REGISTRY.by_key(str(recorded["key"]))
    if spec is None:
        raise StaleButton(f"no command {recorded['key']!r} in this version")
    return interaction, spec.model.model_validate(recorded["arguments"])


async def run_recorded(
    services: Services,
    client: AsyncWebClient,
    entry: Entry | None,
    interaction: Interaction,
    command: Command | UsageError | None,
    *,
    typed: str = "",
    confirmed: bool = False,
) -> None:
    """Run the command on the one path (None: read `typed` first); its record goes once it is
    answered."""
    if command is None:
        command = runner.read(typed, services.slash)
    with running(entry):
        await runner.run(services, client, interaction, command, typed=typed, confirmed=confirmed)
    if services.journal is not None:
        await services.journal.done(entry)


def recovery(services: Services, journal: Journal, client: AsyncWebClient) -> Recovery:
    """What this process does with the commands of processes that stopped."""

    async def rerun(entry: Entry) -> None:
        interaction, command = read(entry.payload, services.slash)
        confirmed = bool(entry.payload.get("confirmed"))
        services.commands.submit(
            lambda: run_recorded(
                services,
                client,
                entry,
                interaction,
                command,
                typed=str(entry.payload.get("typed", "")),
                confirmed=confirmed,
            )
        )

    async def unknown(entry: Entry) -> None:
        await tell_unknown(services, client, entry)
        await journal.done(entry)

    return Recovery(journal, rerun=rerun, unknown=unknown)


async def tell_unknown(services: Services, client: AsyncWebClient, entry: Entry) -> None:
    """Say in the channel that the command may or may not have happened; audit it."""
    interaction = Interaction(**entry.payload["interaction"])
    text = str(entry.payload.get("text", ""))
    reference = new_correlation_id()
    said = messages.stopped_midway(interaction.user_id, text, reference)
    try:
        await Replies(client, interaction).public(Message(said))
    except Exception:
        log.exception(
            "could not say that command %d's outcome is unknown (ref %s)", entry.id, reference
        )
    word = text.split(" ", 1)[0] if text else "unknown"
    await services.auditor.record(
        user=interaction.user_id,
        team=interaction.team_id,
        channel=interaction.channel_id or "",
        command=word,
        outcome="error",
        target=text,
        detail="outcome unknown: the process running it stopped after sending it to the node",
        correlation_id=reference,
    )
