"""Control API under `/_sim/` (no auth): reset, statistics, faults, settings, extra backups.

Not part of the vendor's API; tests, the demo and benchmarks use it through SimulatorControl.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .faults import KINDS

if TYPE_CHECKING:
    from .app import SimulatorApp

PREFIX = "/_sim/"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


SpecT = TypeVar("SpecT", bound=_Spec)


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
    hostname: str | None = None
    backup_size: int | None = Field(default=None, ge=0)


class BackupSpec(_Spec):
    """`POST /_sim/backups`: a finished backup file of `size` bytes."""

    size: int = Field(ge=0)
    version: str | None = None
    build: str | None = None
    passphrase: str | None = None
    date: datetime | None = None


def routes(sim: SimulatorApp) -> list[BaseRoute]:
    """The control API's routes for one simulator."""

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

    return [
        Route(f"{PREFIX}reset", reset, methods=["POST"]),
        Route(f"{PREFIX}stats", stats, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}settings", settings, methods=["GET", "POST"]),
        Route(f"{PREFIX}backups", backups, methods=["POST"]),
    ]


async def _parse(request: Request, model: type[SpecT]) -> SpecT | Response:
    """The JSON body as `model`, or a 422 response saying what is wrong."""
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        return JSONResponse({"error": json.loads(exc.json(include_url=False))}, 422)
