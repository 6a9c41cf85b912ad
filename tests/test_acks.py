"""`bot.acks`: Bolt answers the moment the listener acknowledges, not on its 10 ms poll, and
keeps Bolt's answers for failures, options and listeners that never acknowledge."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.listener.asyncio_runner import AsyncioListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.acks import PromptAckRunner, prompt_acks


async def _authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None, team_id="T1", bot_token="xoxb-1", bot_user_id="UB1", bot_id="B1"
    )


def make_app() -> AsyncApp:
    app = AsyncApp(
        authorize=_authorize, signing_secret="unused", request_verification_enabled=False
    )
    prompt_acks(app)
    return app


def slash(text: str = "mute alice") -> AsyncBoltRequest:
    body = {"command": "/pexip", "text": text, "user_id": "U1", "team_id": "T1", "channel_id": "C1"}
    return AsyncBoltRequest(
        body=urlencode(body), headers={"content-type": ["application/x-www-form-urlencoded"]}
    )


def options_request() -> AsyncBoltRequest:
    payload = {
        "type": "block_suggestion",
        "action_id": "pick",
        "block_id": "b",
        "value": "VMR",
        "user": {"id": "U1"},
        "team": {"id": "T1"},
    }
    return AsyncBoltRequest(
        body=urlencode({"payload": json.dumps(payload)}),
        headers={"content-type": ["application/x-www-form-urlencoded"]},
    )


async def dispatch(app: AsyncApp, request: AsyncBoltRequest) -> BoltResponse:
    return await asyncio.wait_for(app.async_dispatch(request), timeout=5)


def test_the_runner_replaces_bolts_own() -> None:
    app = make_app()
    assert isinstance(app.listener_runner, PromptAckRunner)
    assert isinstance(app.listener_runner, AsyncioListenerRunner)


async def test_answers_on_ack_without_polling_while_the_listener_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_app()
    release, finished = asyncio.Event(), asyncio.Event()
    naps: list[float] = []
    real_sleep = asyncio.sleep

    async def watched_sleep(delay: float, *args: Any) -> Any:
        naps.append(delay)
        return await real_sleep(delay, *args)

    @app.command("/pexip")
    async def listener(ack: Any) -> None:
        await ack()
        await release.wait()
        finished.set()

    monkeypatch.setattr(asyncio, "sleep", watched_sleep)
    response = await dispatch(app, slash())
    assert response.status == 200
    assert naps == []  # Bolt's runner sleeps 0.01 s between checks for the ack
    assert not finished.is_set()
    release.set()
    await asyncio.wait_for(finished.wait(), timeout=5)


async def test_options_are_answered_with_the_ack_body() -> None:
    app = make_app()

    @app.options("pick")
    async def options(ack: Any) -> None:
        await ack(options=[{"text": {"type": "plain_text", "text": "VMR_1"}, "value": "VMR_1"}])

    response = await dispatch(app, options_request())
    assert response.status == 200
    assert json.loads(response.body)["options"][0]["value"] == "VMR_1"


async def test_a_failure_before_ack_answers_500() -> None:
    app = make_app()

    @app.command("/pexip")
    async def listener(ack: Any) -> None:
        raise RuntimeError("broken before ack")

    response = await dispatch(app, slash())
    assert response.status == 500


async def test_a_failure_after_ack_keeps_the_ack_and_reaches_the_error_handler() -> None:
    app = make_app()
    seen: list[BaseException] = []

    @app.error
    async def on_error(error: BaseException) -> None:
        seen.append(error)

    @app.command("/pexip")
    async def listener(ack: Any) -> None:
        await ack()
        await asyncio.sleep(0)
        raise RuntimeError("broken after ack")

    response = await dispatch(app, slash())
    assert response.status == 200
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert [str(e) for e in seen] == ["broken after ack"]


async def test_a_listener_that_never_acks_gets_no_answer_after_its_timeout() -> None:
    app = make_app()

    @app.command("/pexip")
    async def listener(ack: Any) -> None:
        await asyncio.sleep(10)

    listener_obj = app._async_listeners[-1]
    listener_obj.ack_timeout = 0.2
    response = await dispatch(app, slash())
    assert response.status == 404  # no listener answered: Bolt's "unhandled request"
