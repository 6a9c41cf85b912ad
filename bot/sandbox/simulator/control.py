"""Control API under `/_sim/` (no auth): reset, statistics, faults, settings, extra backups,
and the node-health hooks: raise / clear an alarm, change licence use, put a Conferencing Node
into maintenance (or out of sync).

Not part of the vendor's API; tests, the demo and benchmarks use it through SimulatorControl.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .event_sinks import Delivery, EventSinks
from .faults import KINDS, FaultBook
from .state import NodeState
from .stats import Stats
from .status import LICENSING_FIELDS


class SimulatorApp(Protocol):
    """What the control API works on (`.app.SimulatorApp`, which mounts these routes)."""

    node: NodeState
    stats: Stats
    faults: FaultBook
    sinks: EventSinks

    def reset(self) -> None: ...


PREFIX = "/_sim/"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


SpecT = TypeVar("SpecT", bound=_Spec)


class ArrivalSpec(_Spec):
    """A call comes in (a guest joins): into the conference the alias reaches."""

    alias: str
    display_name: str
    source_alias: str = ""
    protocol: str = "WebRTC"
    location: str = "London"
    role: str = "guest"


class DeliverySpec(_Spec):
    """How the nodes deliver events to the sinks (tests): see `event_sinks.Delivery`."""

    duplicate_every: int = Field(default=0, ge=0)
    reverse: bool = False
    lose: tuple[str, ...] = ()


class FaultSpec(_Spec):
    """`POST /_sim/faults`: latency and/or one failure kind, for matching requests."""

    method: str | None = None
    path: str = "/api/"
    times: int | None = Field(default=None, ge=1)
    latency: float = Field(default=0.0, ge=0)
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: str | None = None
    body: Any = None
    drop: bool = False
    drop_mid_response: bool = False
    malformed: bool = False
    login_redirect: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> FaultSpec:
        kinds = [kind for kind in KINDS if getattr(self, kind) not in (None, False)]
        if len(kinds) > 1:
            raise ValueError(f"give at most one of {', '.join(KINDS)}; got {', '.join(kinds)}")
        if not kinds and not self.latency:
            raise ValueError(f"give latency and/or one of {', '.join(KINDS)}")
        return self


class SettingsSpec(_Spec):
    """`POST /_sim/settings`: only the given values change."""

    answer_delay: float | None = Field(default=None, ge=0)
    backup_delay: float | None = Field(default=None, ge=0)
    version: str | None = None
    build: str | None = None
    management_version: str | None = None
    hostname: str | None = None
    backup_size: int | None = Field(default=None, ge=0)


class BackupSpec(_Spec):
    """`POST /_sim/backups`: a finished backup file of `size` bytes."""

    size: int = Field(ge=0)
    version: str | None = None
    build: str | None = None
    passphrase: str | None = None
    date: datetime | None = None


class AlarmSpec(_Spec):
    """`POST /_sim/alarms`: raise an alarm (it shows in status `alarm` until cleared)."""

    name: str = Field(min_length=1, max_length=250)
    details: str = Field(default="", max_length=8096)
    instance: str = Field(default="", max_length=250)
    node: str = ""
    level: str = "error"


class LicenceSpec(_Spec):
    """`POST /_sim/licensing`: `{"port_count": 95, ...}`; only licensing's own keys."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _known_keys(self) -> LicenceSpec:
        extra = self.model_extra or {}
        unknown = sorted(set(extra) - set(LICENSING_FIELDS))
        if unknown:
            raise ValueError(f"not a licensing field: {', '.join(unknown)}")
        for key, value in extra.items():
            wanted = bool if key.endswith("_active") else int
            if type(value) is not wanted or (wanted is int and value < 0):
                raise ValueError(f"{key}: give a {'boolean' if wanted is bool else 'count'}")
        return self


class WorkerSpec(_Spec):
    """`POST /_sim/worker_vm/<id>`: maintenance mode (with a reason), sync state, load."""

    maintenance_mode: bool | None = None
    maintenance_mode_reason: str | None = Field(default=None, max_length=250)
    sync_status: str | None = None
    media_load: int | None = Field(default=None, ge=0, le=100)


def routes(sim: SimulatorApp) -> list[BaseRoute]:
    """The control API's routes for one simulator."""

    async def arrive(request: Request) -> Response:
        spec = await _parse(request, ArrivalSpec)
        if isinstance(spec, Response):
            return spec
        participant_id = sim.node.arrive(**spec.model_dump())
        return JSONResponse({"participant_id": participant_id}, 201)

    async def delivery(request: Request) -> Response:
        if request.method == "POST":
            spec = await _parse(request, DeliverySpec)
            if isinstance(spec, Response):
                return spec
            sim.sinks.delivery = Delivery(**spec.model_dump())
        return JSONResponse({**asdict(sim.sinks.delivery), "delivered": sim.sinks.delivered})

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse({"status": "ok"})

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            sim.stats.reset()
            return Response(status_code=204)
        return JSONResponse(sim.stats.to_json())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.faults.clear()
            return Response(status_code=204)
        if request.method == "POST":
            spec = await _parse(request, FaultSpec)
            if isinstance(spec, Response):
                return spec
            rule = sim.faults.add(**spec.model_dump())
            return JSONResponse(rule.to_json(), 201)
        return JSONResponse([rule.to_json() for rule in sim.faults.rules])

    async def settings(request: Request) -> Response:
        if request.method == "POST":
            spec = await _parse(request, SettingsSpec)
            if isinstance(spec, Response):
                return spec
            for name, value in spec.model_dump(exclude_none=True).items():
                setattr(sim.node.settings, name, value)
        return JSONResponse(asdict(sim.node.settings))

    async def backups(request: Request) -> Response:
        spec = await _parse(request, BackupSpec)
        if isinstance(spec, Response):
            return spec
        when = None
        if spec.date is not None:
            date = spec.date if spec.date.tzinfo else spec.date.replace(tzinfo=UTC)
            when = date.timestamp()
        backup = sim.node.backups.add(
            spec.size,
            version=spec.version,
            build=spec.build,
            passphrase=spec.passphrase,
            when=when,
        )
        return JSONResponse(backup.to_json(), 201)

    async def alarms(request: Request) -> Response:
        spec = await _parse(request, AlarmSpec)
        if isinstance(spec, Response):
            return spec
        alarm = sim.node.raise_alarm(
            spec.name,
            details=spec.details,
            instance=spec.instance,
            node=spec.node,
            level=spec.level,
        )
        return JSONResponse(asdict(alarm), 201)

    async def clear_alarm(request: Request) -> Response:
        lowered = sim.node.lower_alarm(int(request.path_params["alarm_id"]))
        if lowered is None:
            return JSONResponse({"error": "no such raised alarm"}, 404)
        return JSONResponse(asdict(lowered))

    async def licensing(request: Request) -> Response:
        spec = await _parse(request, LicenceSpec)
        if isinstance(spec, Response):
            return spec
        sim.node.set_licences(dict(spec.model_extra or {}))
        return JSONResponse(sim.node.licensing())

    async def worker(request: Request) -> Response:
        spec = await _parse(request, WorkerSpec)
        if isinstance(spec, Response):
            return spec
        changed = sim.node.set_worker(
            int(request.path_params["worker_id"]),
            maintenance_mode=spec.maintenance_mode,
            reason=spec.maintenance_mode_reason,
            sync_status=spec.sync_status,
            media_load=spec.media_load,
        )
        if changed is None:
            return JSONResponse({"error": "no such worker_vm"}, 404)
        return JSONResponse(asdict(changed))

    return [
        Route(f"{PREFIX}reset", reset, methods=["POST"]),
        Route(f"{PREFIX}alarms", alarms, methods=["POST"]),
        Route(f"{PREFIX}alarms/{{alarm_id:int}}", clear_alarm, methods=["DELETE"]),
        Route(f"{PREFIX}licensing", licensing, methods=["POST"]),
        Route(f"{PREFIX}worker_vm/{{worker_id:int}}", worker, methods=["POST"]),
        Route(f"{PREFIX}stats", stats, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}settings", settings, methods=["GET", "POST"]),
        Route(f"{PREFIX}backups", backups, methods=["POST"]),
        Route(f"{PREFIX}arrive", arrive, methods=["POST"]),
        Route(f"{PREFIX}event_delivery", delivery, methods=["GET", "POST"]),
    ]


async def _parse(request: Request, model: type[SpecT]) -> SpecT | Response:
    """The JSON body as `model`, or a 422 response saying what is wrong."""
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        return JSONResponse({"error": json.loads(exc.json(include_url=False))}, 422)
