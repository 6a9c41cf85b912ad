"""Request statistics for the control API: what the code under test actually sent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.types import Scope


class Stats:
    """Counts vendor API (`/api/...`) requests; control API calls are not counted."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero the counters; requests still running stay counted as in flight."""
        self.requests: Counter[str] = Counter()
        self.commands: list[dict[str, Any]] = []
        self.max_in_flight = self.in_flight
        self.faults_applied = 0
        self._clients: set[tuple[str, int]] = set()

    def begin(self, scope: Scope) -> None:
        """A request arrived: count it, its connection and the requests now in flight."""
        self.requests[f"{scope['method']} {scope['path']}"] += 1
        client = scope.get("client")
        if client:
            # a client (host, port) pair identifies one TCP connection while it is open
            self._clients.add((str(client[0]), int(client[1])))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        self.in_flight -= 1

    def record_command(
        self, command: str, path: str, body: dict[str, Any], status_code: int
    ) -> None:
        self.commands.append(
            {"command": command, "path": path, "body": body, "status": status_code}
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_total": sum(self.requests.values()),
            "requests": dict(self.requests),
            "commands": list(self.commands),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "connections": len(self._clients),
            "faults_applied": self.faults_applied,
        }
