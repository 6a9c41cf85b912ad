"""The simulator as one ASGI app: vendor API behind basic auth, fault injection and request
statistics around it, and the control API beside it."""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import commands, configuration, control, faults, status
from .connection import disable_nagle
from .errors import ApiError
from .event_sinks import EventSinks
from .faults import FaultBook
from .models import Settings
from .rest import api_error
from .seed import PASSPHRASE
from .state import NodeState
from .stats import Stats

API_PREFIX = "/api/"
AUTH_PREFIX = "/api/admin/"
REALM = "pexip"


class SimulatorApp:
    """ASGI app of one simulated management node. `node`, `stats` and `faults` are its state."""

    def __init__(
        self, node: NodeState, *, username: str = "admin", password: str = "admin"
    ) -> None:
        self.node = node
        self.stats = Stats()
        self.faults = FaultBook()
        self.sinks = EventSinks(node)
        self._credentials = f"{username}:{password}".encode()
        self._router = Starlette(
            routes=[
                *commands.routes(node, self.stats.record_command),
                *status.routes(node),
                *configuration.routes(node, self.sinks),
                *control.routes(self),
            ],
            exception_handlers={ApiError: api_error},
        )

    def reset(self) -> None:
        """Seed state, default settings, no faults, zero counters."""
        self.node.reset()
        self.sinks.reset()
        self.faults.clear()
        self.stats.reset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            disable_nagle(send)
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self._router(scope, receive, send)
            self.sinks.poke()
            return
        self.stats.begin(scope)
        try:
            rule = self.faults.take(scope["method"], scope["path"])
            if rule is None:
                await self._vendor(scope, receive, send)
            else:
                self.stats.faults_applied += 1
                await faults.apply(rule, self._vendor, scope, receive, send)
        finally:
            self.stats.end()
            self.sinks.poke()  # report what the request changed to the event sinks

    async def _vendor(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith(AUTH_PREFIX) and not self._authorized(scope):
            unauthorized = Response(
                status_code=401, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'}
            )
            await unauthorized(scope, receive, send)
            return
        await self._router(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._credentials)


def create_app(
    *,
    username: str = "admin",
    password: str = "admin",
    passphrase: str = PASSPHRASE,
    settings: Settings | None = None,
) -> SimulatorApp:
    """A simulator with the seed data; `passphrase` is the seeded backups' passphrase."""
    node = NodeState(settings, seed_passphrase=passphrase)
    return SimulatorApp(node, username=username, password=password)
