"""Coalesced edits of the messages kept current from events (DESIGN example 22).

Each message is a key with a dirty flag. The first change is sent at once; changes within the
next `window` seconds collapse into one edit sent when it ends, and so on while changes keep
coming. What is sent is always rendered at send time, so the newest state. A 429 from Slack
is waited out (its Retry-After) and the newest state sent then, never the stale one; so is a
`TooSoon` from `send` (another process edited the message within the window).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 1.0


class TooSoon(Exception):
    """`send` declines for now: the message was edited (by another process) less than a window
    ago. The key stays dirty and is sent after `wait` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"edited {wait:.2f} s too soon")
        self.wait = wait


class Coalescer:
    """`mark(key)` says a message's state changed; `send(key)` renders and sends its newest."""

    def __init__(self, send: Callable[[str], Awaitable[None]], window: float = 1.0) -> None:
        self._send = send
        self.window = window
        self._dirty: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def mark(self, key: str) -> None:
        self._dirty.add(key)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run(key), name=f"edit {key}")

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def settle(self) -> None:
        """Wait for the pending edits (tests, benchmarks, shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks.values()))

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def _run(self, key: str) -> None:
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                pause = await self._send_once(key)
                await asyncio.sleep(max(pause, self.window))
        finally:
            self._tasks.pop(key, None)

    async def _send_once(self, key: str) -> float:
        """Send; on a 429, mark the key dirty again and return how long to wait."""
        try:
            await self._send(key)
        except TooSoon as exc:
            self._dirty.add(key)
            return exc.wait
        except SlackApiError as exc:
            if exc.response.status_code != 429:
                log.warning("could not update the live message %s: %s", key, _error(exc))
                return 0.0
            self._dirty.add(key)
            return _retry_after(exc)
        except Exception:
            log.exception("could not update the live message %s", key)
        return 0.0


def _error(exc: SlackApiError) -> str:
    data = exc.response.data
    return str(data.get("error")) if isinstance(data, dict) else "error"


def _retry_after(exc: SlackApiError) -> float:
    headers = {name.lower(): value for name, value in (exc.response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
