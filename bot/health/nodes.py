"""What the node says about its own health: Conferencing Nodes, alarms, licences
(shared/pexip-docs/real-node-facts.md §3-4), read with as few requests as possible.

Each list is read in one page of up to `PAGE` objects, so a health poll is exactly three
requests (alarms, licences, nodes) and `/pexip status` four (plus the management node). Any key
may be missing or null (older versions lack some); `level` and the status words are open
strings, shown as they come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from bot.pexip import errors
from bot.pexip.client import PexipClient
from bot.pexip.models import ManagementNode, UtcTime, _Model
from bot.pexip.status import STATUS, primary_management_node

PAGE = 1000
"""Tastypie's default `max_limit`: one page holds any real deployment's nodes and alarms."""

LICENCE_KINDS: dict[str, str] = {
    "port": "Call (port)",
    "audio": "Audio",
    "system": "Room system",
    "vmr": "VMR",
    "teams": "Teams",
    "ghm": "Google Meet",
    "otj": "One-Touch Join",
    "scheduling": "Scheduling",
    "telehealth": "Telehealth",
}
"""Licensing's `<kind>_count` / `<kind>_total` pairs, with the words shown for them."""

_BUILD = re.compile(r"\(([\d.]+)\)")


class WorkerNode(_Model):
    """A Conferencing (or Proxying Edge) Node: status `worker_vm`."""

    id: int | None = None
    name: str = ""
    system_location: str = ""
    node_type: str = ""
    version: str = ""
    maintenance_mode: bool = False
    maintenance_mode_reason: str = ""
    media_load: int = Field(default=0, ge=0)
    sync_status: str = ""
    upgrade_status: str = ""

    @property
    def key(self) -> str:
        """What the node is remembered by between polls (its id; its name on old versions)."""
        return str(self.id) if self.id is not None else f"name:{self.name}"

    @property
    def synced(self) -> bool | None:
        """In sync with the management node; None when the node does not say."""
        return self.sync_status.strip().upper() == "SYNCED" if self.sync_status.strip() else None

    @property
    def proxying(self) -> bool:
        return self.node_type.upper() == "PROXYING"

    @property
    def upgrading(self) -> bool:
        return self.upgrade_status.strip().upper() not in ("", "IDLE")

    @property
    def needs_attention(self) -> bool:
        return self.maintenance_mode or self.synced is False or self.upgrading


class Alarm(_Model):
    """An active alarm (a cleared one leaves the list for `history/v1/alarm`)."""

    id: int
    name: str = ""
    level: str = ""
    details: str = ""
    instance: str = ""
    node: str = ""
    acknowledged: bool = False
    time_raised: UtcTime = None

    @property
    def key(self) -> str:
        """Its id with when it was raised: a re-raised alarm is a new one."""
        raised = self.time_raised.isoformat() if self.time_raised else ""
        return f"{self.id}@{raised}"


@dataclass(frozen=True)
class LicenceUse:
    kind: str
    count: int
    total: int

    @property
    def label(self) -> str:
        return LICENCE_KINDS.get(self.kind, self.kind)

    @property
    def percent(self) -> float:
        return 100.0 * self.count / self.total if self.total else 0.0


def licence_use(licensing: dict[str, object]) -> list[LicenceUse]:
    """The licensed kinds (a total above 0), in the vendor's order; a key may be missing."""
    uses = []
    for kind in LICENCE_KINDS:
        total, count = licensing.get(f"{kind}_total"), licensing.get(f"{kind}_count")
        if isinstance(total, int) and not isinstance(total, bool) and total > 0:
            used = count if isinstance(count, int) and not isinstance(count, bool) else 0
            uses.append(LicenceUse(kind, max(used, 0), total))
    return uses


@dataclass(frozen=True)
class Health:
    """One poll: alarms, licences and Conferencing Nodes, as read at `read_at`."""

    alarms: list[Alarm]
    licences: list[LicenceUse]
    nodes: list[WorkerNode]
    read_at: datetime


@dataclass(frozen=True)
class Status:
    """What `/pexip status` shows: the poll's reads and the primary management node."""

    management: ManagementNode
    health: Health


def build_of(version: str) -> str | None:
    """The build inside a `version` such as `"24 (55691.0.0)"`."""
    found = _BUILD.search(version)
    return found.group(1) if found else None


async def read_health(client: PexipClient, now: datetime) -> Health:
    """Alarms, licences, nodes: three requests (one page each), stopping at the first failure."""
    alarms = await client.get_all(
        STATUS + "alarm/", Alarm, operation="read the alarms", params={"limit": PAGE}
    )
    licensing = await _licensing(client)
    nodes = await client.get_all(
        STATUS + "worker_vm/",
        WorkerNode,
        operation="read the conferencing nodes",
        params={"limit": PAGE},
    )
    return Health(alarms, licence_use(licensing), nodes, now)


async def read_status(client: PexipClient, now: datetime) -> Status:
    """Everything `/pexip status` shows: four requests."""
    management = await primary_management_node(client)
    return Status(management, await read_health(client, now))


async def _licensing(client: PexipClient) -> dict[str, object]:
    """`objects[0]` of a one-object list (not a bare object)."""
    operation = "read the licences"
    answer = await client.get_json(STATUS + "licensing/", operation=operation)
    objects = answer.get("objects") if isinstance(answer, dict) else None
    if not isinstance(objects, list) or not objects or not isinstance(objects[0], dict):
        raise errors.UnexpectedResponse(
            f"{operation}: the node's reply is not a list of one object", operation=operation
        )
    return dict(objects[0])
