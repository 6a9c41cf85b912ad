"""SimulatorControl: a small synchronous client for the simulator's control API."""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any, TypedDict

import httpx


class CommandRecord(TypedDict):
    command: str
    """e.g. "participant/mute"."""
    path: str
    """e.g. "/api/admin/command/v1/participant/mute/"."""
    body: dict[str, Any]
    """The fields as received; an uploaded file as {"filename", "size"}."""
    status: int
    """The status code answered (499: the client left before sending the whole body)."""


class Stats(TypedDict):
    requests_total: int
    requests: dict[str, int]
    """Count per "METHOD /path" (no query string)."""
    commands: list[CommandRecord]
    in_flight: int
    max_in_flight: int
    connections: int
    """Distinct TCP connections that carried vendor API requests."""
    faults_applied: int


class BackupInfo(TypedDict):
    filename: str
    date: str
    build: str
    version: str
    size: int
    type: str
    sha256sum: str
    resource_uri: str


class SimulatorControl:
    """Drives a running simulator: `SimulatorControl("http://127.0.0.1:8080").reset()`."""

    def __init__(
        self, base_url: str, *, verify: bool | str | ssl.SSLContext = True, timeout: float = 10
    ) -> None:
        """`verify`: False, True (system CAs), a CA bundle path or an SSL context."""
        if isinstance(verify, str):
            verify = ssl.create_default_context(cafile=verify)
        self._http = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/_sim/", verify=verify, timeout=timeout
        )

    def reset(self) -> None:
        """Seed state and settings, no faults, zero counters."""
        self._call("POST", "reset")

    def stats(self) -> Stats:
        result: Stats = self._call("GET", "stats")
        return result

    def reset_stats(self) -> None:
        """Zero the counters only."""
        self._call("DELETE", "stats")

    def add_fault(
        self,
        *,
        method: str | None = None,
        path: str = "/api/",
        times: int | None = None,
        latency: float = 0.0,
        status: int | None = None,
        retry_after: str | None = None,
        body: Any = None,
        drop: bool = False,
        drop_mid_response: bool = False,
        malformed: bool = False,
        login_redirect: bool = False,
    ) -> int:
        """Add a fault rule for requests matching `method` (any if None) and the `path` prefix;
        returns its id. Give `latency` and/or exactly one of status, drop, drop_mid_response,
        malformed, login_redirect."""
        spec = {key: value for key, value in locals().items() if key != "self"}
        rule: dict[str, Any] = self._call("POST", "faults", json=spec)
        return int(rule["id"])

    def faults(self) -> list[dict[str, Any]]:
        """The fault rules with their uses left (`times`) and `applied` counts."""
        rules: list[dict[str, Any]] = self._call("GET", "faults")
        return rules

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def settings(
        self,
        *,
        answer_delay: float | None = None,
        backup_delay: float | None = None,
        version: str | None = None,
        build: str | None = None,
        management_version: str | None = None,
        backup_size: int | None = None,
    ) -> dict[str, Any]:
        """Change the given settings; returns them all. `version`/`build` are the release and
        build (status `management_vm` writes `"<version> (<build>)"`); `management_version`,
        when not empty, is written verbatim instead (e.g. an unreadable one)."""
        changes = {k: v for k, v in locals().items() if k != "self" and v is not None}
        result: dict[str, Any] = self._call("POST", "settings", json=changes)
        return result

    def add_backup(
        self,
        size: int,
        *,
        version: str | None = None,
        build: str | None = None,
        passphrase: str | None = None,
        date: str | None = None,
    ) -> BackupInfo:
        """Add a backup file of `size` bytes (node's version and seed passphrase by default;
        `date` is ISO 8601, UTC if no offset)."""
        spec = {k: v for k, v in locals().items() if k != "self" and v is not None}
        result: BackupInfo = self._call("POST", "backups", json=spec)
        return result

    def raise_alarm(
        self,
        name: str,
        *,
        details: str = "",
        instance: str = "",
        node: str = "",
        level: str = "error",
    ) -> int:
        """Raise an alarm (listed in status `alarm`); returns its id."""
        spec = {k: v for k, v in locals().items() if k != "self"}
        alarm: dict[str, Any] = self._call("POST", "alarms", json=spec)
        return int(alarm["id"])

    def clear_alarm(self, alarm_id: int) -> None:
        """Lower an alarm: it leaves status `alarm` for `history/v1/alarm`."""
        self._call("DELETE", f"alarms/{alarm_id}")

    def set_licences(self, **values: int | bool) -> dict[str, Any]:
        """Change licence figures, e.g. `set_licences(port_count=95)`; returns them all."""
        result: dict[str, Any] = self._call("POST", "licensing", json=values)
        return result

    def set_worker(
        self,
        worker_id: int,
        *,
        maintenance_mode: bool | None = None,
        maintenance_mode_reason: str | None = None,
        sync_status: str | None = None,
        media_load: int | None = None,
    ) -> None:
        """Put Conferencing Node `worker_id` into or out of maintenance, or change its sync
        state or media load."""
        spec = {
            k: v for k, v in locals().items() if k not in ("self", "worker_id") and v is not None
        }
        self._call("POST", f"worker_vm/{worker_id}", json=spec)

    def arrive(self, alias: str, display_name: str, **details: str) -> str:
        """A call comes in to the alias's conference (waits to be admitted if it is locked);
        `details`: source_alias, protocol, location, role. Returns the participant id."""
        body = {"alias": alias, "display_name": display_name, **details}
        answer = self._call("POST", "arrive", body)
        return str(answer["participant_id"])

    def event_delivery(
        self, *, duplicate_every: int = 0, reverse: bool = False, lose: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """How events reach the sinks: every N-th twice, each batch newest first, the events
        named in `lose` never."""
        body = {"duplicate_every": duplicate_every, "reverse": reverse, "lose": list(lose)}
        result: dict[str, Any] = self._call("POST", "event_delivery", body)
        return result

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SimulatorControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        response = self._http.request(method, path, json=json)
        if response.status_code >= 400:
            raise RuntimeError(f"simulator control {method} {path}: {response.text}")
        return response.json() if response.content else None
