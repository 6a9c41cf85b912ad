"""Find a running conference from what a user typed: its instance id, its name or an alias."""

from __future__ import annotations

from uuid import UUID

from bot.pexip import configuration, errors, status
from bot.pexip.client import PexipClient
from bot.pexip.models import Conference, ConfiguredConference


class NotRunning(errors.NotFound):
    """An alias of a configured service that is idle; `service` is that service."""

    def __init__(self, message: str, *, service: ConfiguredConference, operation: str) -> None:
        super().__init__(message, operation=operation)
        self.service = service


def is_uuid(text: str) -> bool:
    """A running instance's or a participant's id, rather than a name."""
    try:
        UUID(text)
    except ValueError:
        return False
    return True


async def find_running_conference(client: PexipClient, text: str) -> Conference:
    """By running-instance UUID, then by name, then by alias. NotFound says which it tried."""
    text = text.strip()
    if is_uuid(text):
        try:
            return await status.conference_by_id(client, text)
        except errors.NotFound:
            raise errors.NotFound(
                f"no running conference has the id {text}: it may have ended",
                operation="look up conference",
            ) from None
    by_name = await status.conference_by_name(client, text)
    if by_name is not None:
        return by_name
    try:
        service = await configuration.conference_for_alias(client, text)
    except errors.NotFound:
        raise errors.NotFound(
            f"no running conference matching {text} (by name or alias)",
            operation="look up conference",
        ) from None
    running = await status.conference_by_name(client, service.name)
    if running is None:
        raise NotRunning(
            f"{service.name} ({text}) is not running: nobody is in it",
            service=service,
            operation="look up conference",
        )
    return running
