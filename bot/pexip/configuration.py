"""Reads from the configuration API: services, their aliases, system locations."""

from __future__ import annotations

from bot.pexip import errors
from bot.pexip.client import PexipClient
from bot.pexip.models import ConferenceAlias, ConfiguredConference, SystemLocation

CONFIGURATION = "/api/admin/configuration/v1/"


async def conference_for_alias(client: PexipClient, alias: str) -> ConfiguredConference:
    """The service an alias dials into (alias → its conference's resource URI → the service)."""
    operation = f"look up alias {alias}"
    found = await client.get_all(
        CONFIGURATION + "conference_alias/",
        ConferenceAlias,
        operation=operation,
        params={"alias": alias},
    )
    if not found:
        raise errors.NotFound(f"no conference has the alias {alias}", operation=operation)
    return await client.get_model(found[0].conference, ConfiguredConference, operation=operation)


async def configured_conference(client: PexipClient, name: str) -> ConfiguredConference | None:
    """A configured service by name, with its aliases (for permission scopes)."""
    found = await client.get_all(
        CONFIGURATION + "conference/",
        ConfiguredConference,
        operation=f"look up the aliases of {name}",
        params={"name": name},
    )
    return found[0] if found else None


async def configured_conferences(client: PexipClient) -> list[ConfiguredConference]:
    return await client.get_all(
        CONFIGURATION + "conference/", ConfiguredConference, operation="list configured services"
    )


async def system_locations(client: PexipClient) -> list[SystemLocation]:
    return await client.get_all(
        CONFIGURATION + "system_location/", SystemLocation, operation="list system locations"
    )
