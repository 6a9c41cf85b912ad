"""Reads from the status API: what is running now."""

from __future__ import annotations

from bot.pexip import errors
from bot.pexip.client import PexipClient
from bot.pexip.models import Conference, NodeVersion, Participant

STATUS = "/api/admin/status/v1/"


async def running_conferences(client: PexipClient) -> list[Conference]:
    """Every running conference instance (an idle VMR is not listed)."""
    return await client.get_all(
        STATUS + "conference/", Conference, operation="list running conferences"
    )


async def conference_by_id(client: PexipClient, conference_id: str) -> Conference:
    return await client.get_model(
        f"{STATUS}conference/{conference_id}/", Conference, operation="look up conference"
    )


async def conference_by_name(client: PexipClient, name: str) -> Conference | None:
    """The running instance of the service called `name` (case-insensitive), if any."""
    found = await client.get_all(
        STATUS + "conference/",
        Conference,
        operation="look up conference",
        params={"name__iexact": name},
    )
    exact = [conference for conference in found if conference.name == name]
    candidates = exact or found
    return candidates[0] if candidates else None


async def participants(client: PexipClient, conference: str | None = None) -> list[Participant]:
    """Participants of one running conference (by name), or of all of them."""
    params = {"conference": conference} if conference is not None else None
    return await client.get_all(
        STATUS + "participant/", Participant, operation="list participants", params=params
    )


async def participant_by_id(client: PexipClient, participant_id: str) -> Participant:
    return await client.get_model(
        f"{STATUS}participant/{participant_id}/", Participant, operation="look up participant"
    )


async def node_version(client: PexipClient) -> NodeVersion:
    """The management node's software version (backups restore only onto the same one)."""
    nodes = await client.get_all(
        STATUS + "management_vm/", NodeVersion, operation="read the node's version"
    )
    if not nodes:
        raise errors.UnexpectedResponse(
            "read the node's version: the node listed no management VM",
            operation="read the node's version",
        )
    return nodes[0]
