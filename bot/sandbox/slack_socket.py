"""Socket Mode for the Slack stand-in: `apps.connections.open` hands out a ws:// URL to a local
WebSocket endpoint that says hello, sends the envelopes a test pushes, and records the acks.

This is Slack's side of the protocol: an envelope is `{"envelope_id", "type", "payload",
"accepts_response_payload"}`; the app answers `{"envelope_id", "payload"?}` within 3 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect


@dataclass(frozen=True)
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    after: float  # seconds between sending the envelope and receiving its ack


class SocketHub:
    """Envelopes waiting to be sent and acks received; safe to use from any thread."""

    def __init__(self) -> None:
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._sent: dict[str, float] = {}
        self._acks: list[Ack] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.connections = 0

    def push(self, kind: str, payload: dict[str, Any]) -> str:
        """Queue an envelope (`slash_commands`, `interactive`, ...); returns its id."""
        envelope_id = f"env-{next(self._ids)}"
        self._outbox.put(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    def acks(self) -> list[Ack]:
        with self._lock:
            return list(self._acks)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in self.acks():
                if ack.envelope_id == envelope_id:
                    return ack
            time.sleep(0.01)
        raise TimeoutError(f"no ack for {envelope_id} within {timeout}s")

    def _next_envelope(self) -> dict[str, Any] | None:
        try:
            envelope = self._outbox.get_nowait()
        except queue.Empty:
            return None
        with self._lock:
            self._sent[envelope["envelope_id"]] = time.monotonic()
        return envelope

    def _record(self, message: dict[str, Any]) -> None:
        envelope_id = str(message.get("envelope_id", ""))
        with self._lock:
            sent = self._sent.get(envelope_id, time.monotonic())
            payload = message.get("payload")
            self._acks.append(
                Ack(
                    envelope_id,
                    payload if isinstance(payload, dict) else None,
                    time.monotonic() - sent,
                )
            )

    async def serve(self, websocket: WebSocket) -> None:
        """One Socket Mode connection: hello, then envelopes out and acks in until it closes."""
        await websocket.accept()
        self.connections += 1
        await websocket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0PEXBOT1"}}
        )
        sender = asyncio.create_task(self._send_loop(websocket))
        try:
            while True:
                text = await websocket.receive_text()
                with contextlib.suppress(ValueError):
                    self._record(json.loads(text))
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()

    async def _send_loop(self, websocket: WebSocket) -> None:
        while True:
            envelope = self._next_envelope()
            if envelope is None:
                await asyncio.sleep(0.01)
                continue
            await websocket.send_json(envelope)
