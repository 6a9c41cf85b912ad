"""Answer Slack the moment a listener acknowledges, not on the next 10 ms tick.

Bolt's asyncio runner (process_before_response off, as pexbot runs it) starts each listener as a
task, then checks every 10 ms whether the listener has called `ack()`
(`slack_bolt/listener/asyncio_runner.py`). Every acknowledgement therefore waits at least
10 ms, and under load the polling is yet more work on the event loop. `PromptAckRunner` is the
same runner with the poll replaced by an event that `ack()` sets: the HTTP answer leaves as soon
as the listener acknowledges, while the listener goes on with the command.

Lazy listeners, auto-acknowledged events and process_before_response keep Bolt's own path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.listener.async_listener import AsyncListener
from slack_bolt.listener.asyncio_runner import AsyncioListenerRunner
from slack_bolt.logger.messages import warning_did_not_call_ack
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)


class PromptAck(AsyncAck):
    """Bolt's `ack()`, which also wakes the request waiting for it and remembers what it
    answered (Bolt's error path clears `response` when the listener fails after acking)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.called = asyncio.Event()
        self.answered: BoltResponse | None = None

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        try:
            self.answered = await super().__call__(*args, **kwargs)
            return self.answered
        finally:
            self.called.set()


class PromptAckRunner(AsyncioListenerRunner):
    """Bolt's runner, answering on `ack()` instead of polling for it."""

    async def run(
        self,
        request: AsyncBoltRequest,
        response: BoltResponse,
        listener_name: str,
        listener: AsyncListener,
        starting_time: float | None = None,
    ) -> BoltResponse | None:
        if (
            self.process_before_response
            or request.lazy_only
            or listener.lazy_functions
            or listener.auto_acknowledgement
        ):
            return await super().run(request, response, listener_name, listener, starting_time)
        ack = PromptAck()
        request.context["ack"] = ack
        task = asyncio.ensure_future(self._listen(ack, request, response, listener))
        listening = self._listening()
        listening.add(task)
        task.add_done_callback(listening.discard)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(listener.ack_timeout):
                await ack.called.wait()
        if response is not None:
            return response
        answer = ack.answered if ack.answered is not None else ack.response
        if answer is None:
            self.logger.warning(warning_did_not_call_ack(listener_name))
        return answer

    def _listening(self) -> set[asyncio.Task[None]]:
        """Listener tasks still running, referenced until they finish (the event loop keeps
        only weak references). Kept on the runner, which `prompt_acks` makes of Bolt's own."""
        tasks: set[asyncio.Task[None]] = self.__dict__.setdefault("_listening_tasks", set())
        return tasks

    async def _listen(
        self,
        ack: PromptAck,
        request: AsyncBoltRequest,
        response: BoltResponse,
        listener: AsyncListener,
    ) -> None:
        """What Bolt's runner does in its listener task, and wake the request when done."""
        answer: BoltResponse | None = response
        try:
            await self.listener_start_handler.handle(request=request, response=response)
            await listener.run_ack_function(request=request, response=response)
        except Exception as error:
            # As Bolt: a failure before ack() answers 500; after it, only the error handler runs.
            answer = response if response is not None else BoltResponse(status=500)
            answer.status = 500
            if ack.response is not None:
                answer = None
            await self.listener_error_handler.handle(error=error, request=request, response=answer)
            ack.response = answer
        finally:
            ack.called.set()
            await self.listener_completion_handler.handle(request=request, response=answer)


def prompt_acks(app: AsyncApp) -> None:
    """Make `app` answer each request as soon as its listener calls ack()."""
    runner = app.listener_runner
    if type(runner) is AsyncioListenerRunner:
        runner.__class__ = PromptAckRunner
    elif not isinstance(runner, PromptAckRunner):
        log.warning("Bolt's listener runner is %s: acknowledgements keep its own timing", runner)
