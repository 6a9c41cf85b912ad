"""The event sink that points at the bot (`pexbot events register`, `pexbot check`): the
configuration API's `event_sink/` and the `event_sinks` of each `system_location/`
(real-node-facts §6)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from bot.pexip import errors
from bot.pexip.client import PexipClient
from bot.pexip.configuration import CONFIGURATION
from bot.pexip.models import _Model

SINKS = CONFIGURATION + "event_sink/"
LOCATIONS = CONFIGURATION + "system_location/"
SINK_NAME = "pexbot"
PROTOCOL_VERSION = 2


class EventSink(_Model):
    id: int
    name: str = ""
    url: str = ""
    username: str = ""
    version: int = 1
    bulk_support: bool = False
    resource_uri: str = ""


class Location(_Model):
    id: int
    name: str
    event_sinks: tuple[str, ...] = ()
    resource_uri: str = ""


@dataclass(frozen=True)
class Registered:
    """What `register` did, one line each."""

    lines: list[str]


def events_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/pexip/events"


async def find_sink(client: PexipClient, url: str) -> EventSink | None:
    """The sink posting to `url` (else the one named `pexbot`), if any."""
    sinks = await client.get_all(SINKS, EventSink, operation="list event sinks")
    return next((s for s in sinks if s.url == url), None) or next(
        (s for s in sinks if s.name == SINK_NAME), None
    )


async def locations(client: PexipClient) -> list[Location]:
    return await client.get_all(LOCATIONS, Location, operation="list system locations")


def _uri(sink: EventSink) -> str:
    return sink.resource_uri or f"{SINKS}{sink.id}/"


async def register(
    client: PexipClient, url: str, username: str, password: SecretStr, named: list[str]
) -> Registered:
    """Create or update the sink for `url` and attach it to the `named` locations (all when
    none is named). Idempotent: what is already so is left alone and said."""
    lines: list[str] = []
    all_locations = await locations(client)
    unknown = [name for name in named if name not in {loc.name for loc in all_locations}]
    if unknown:
        known = ", ".join(loc.name for loc in all_locations) or "none"
        raise errors.NotFound(
            f"no system location named {', '.join(unknown)} (the node has: {known})",
            operation="register the event sink",
        )
    body = {
        "name": SINK_NAME,
        "url": url,
        "username": username,
        "password": password.get_secret_value(),
        "version": PROTOCOL_VERSION,
        "bulk_support": False,
        "description": "pexbot: live meetings in Slack",
    }
    sink = await find_sink(client, url)
    if sink is None:
        await client.write("POST", SINKS, body, operation="create the event sink")
        sink = await find_sink(client, url)
        if sink is None:
            raise errors.UnexpectedResponse(
                "the node accepted the new event sink but does not list it",
                operation="create the event sink",
            )
        lines.append(f"created the event sink {sink.name} → {url}")
    else:
        await client.write("PATCH", _uri(sink), body, operation="update the event sink")
        lines.append(f"updated the event sink {sink.name} → {url} (credentials set again)")
    for location in all_locations:
        if named and location.name not in named:
            continue
        if _uri(sink) in location.event_sinks:
            lines.append(f"{location.name}: already attached")
            continue
        attached = [*location.event_sinks, _uri(sink)]
        await client.write(
            "PATCH",
            location.resource_uri or f"{LOCATIONS}{location.id}/",
            {"event_sinks": attached},
            operation=f"attach the event sink to {location.name}",
        )
        lines.append(f"{location.name}: attached")
    return Registered(lines)


async def attached_to(client: PexipClient, url: str) -> tuple[EventSink | None, list[str]]:
    """The sink posting to `url` and the names of the locations it is attached to."""
    sink = await find_sink(client, url)
    if sink is None or sink.url != url:
        return None, []
    names = [loc.name for loc in await locations(client) if _uri(sink) in loc.event_sinks]
    return sink, names
