"""Reads from the status API: what is running now."""

from __future__ import annotations

from bot.pexip import errors
from bot.pexip.client import PexipClient, Readable
from bot.pexip.models import Conference, ManagementNode, Participant

STATUS = "/api/admin/status/v1/"


async def running_conferences(client: PexipClient) -> list[Conference]:
    """Every running conference instance that can be read (an idle VMR is not listed)."""
    return (await conference_list(client)).items


async def conference_list(client: PexipClient) -> Readable[Conference]:
    """Running conferences, and how many the node sent that could not be read."""
    return await client.get_readable(
        STATUS + "conference/", Conference, operation="list running conferences"
    )


async def conference_by_id(client: PexipClient, conference_id: str) -> Conference:
    return await client.get_model(
        f"{STATUS}conference/{conference_id}/", Conference, operation="look up conference"
    )


async def conference_by_name(client: PexipClient, name: str) -> Conference | None:
    """The running instance of the service called `name` (case-insensitive), if any."""
    found = (
        await client.get_readable(
            STATUS + "conference/",
            Conference,
            operation="look up conference",
            params={"name__iexact": name},
        )
    ).items
    exact = [conference for conference in found if conference.name == name]
    candidates = exact or found
    return candidates[0] if candidates else None


async def participants(client: PexipClient, conference: str | None = None) -> list[Participant]:
    """Participants of one running conference (by name), or of all of them; those the node
    sent in a shape pexbot cannot read are left out."""
    return (await participant_list(client, conference)).items


async def participant_list(
    client: PexipClient, conference: str | None = None
) -> Readable[Participant]:
    """Participants, and how many the node sent that could not be read (for listings)."""
    params = {"conference": conference} if conference is not None else None
    return await client.get_readable(
        STATUS + "participant/", Participant, operation="list participants", params=params
    )


async def participant_by_id(client: PexipClient, participant_id: str) -> Participant:
    return await client.get_model(
        f"{STATUS}participant/{participant_id}/", Participant, operation="look up participant"
    )


async def primary_management_node(client: PexipClient) -> ManagementNode:
    """The primary management node (its `version` is what backups must match)."""
    operation = "read the node's version"
    nodes = await client.get_all(STATUS + "management_vm/", ManagementNode, operation=operation)
    if not nodes:
        raise errors.UnexpectedResponse(
            f"{operation}: the node listed no management VM", operation=operation
        )
    return next((node for node in nodes if node.primary), nodes[0])
