"""The Slack Web API stand-in behaves like Slack where pexbot and slack-sdk can tell."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient


@pytest.fixture
def client(slack_api) -> AsyncWebClient:
    return AsyncWebClient(token=slack_api.bot_token, base_url=slack_api.url)


async def test_auth_test_names_the_bot_and_its_scopes(client, slack_api):
    reply = await client.auth_test()

    assert reply["user_id"] == slack_api.state.bot_user_id
    assert reply["team_id"] == "T0TEST001"
    assert "usergroups:read" in reply.headers["x-oauth-scopes"].split(",")


async def test_a_wrong_token_is_invalid_auth(slack_api):
    client = AsyncWebClient(token="xoxb-wrong", base_url=slack_api.url)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0ROOMS01", text="hi")

    assert raised.value.response["error"] == "invalid_auth"
    assert slack_api.state.messages() == []


def test_form_bodies_and_token_parameters_work_like_slack(slack_api):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    form = {
        "token": slack_api.bot_token,
        "channel": "C1",
        "text": "hi",
        "blocks": json.dumps(blocks),
    }

    reply = httpx.post(slack_api.url + "chat.postMessage", data=form).json()

    assert reply["ok"] is True
    assert reply["message"]["blocks"] == blocks
    (message,) = slack_api.state.messages()
    assert (message.kind, message.channel, message.text, message.blocks) == (
        "postMessage",
        "C1",
        "hi",
        blocks,
    )
    assert "token" not in slack_api.state.calls()[0].params


async def test_messages_are_kept_in_order_with_who_saw_them(client, slack_api):
    posted = await client.chat_postMessage(channel="C1", text="Alice was muted")
    await client.chat_postEphemeral(channel="C1", user="U0MOD0001", text="only you")
    await client.chat_update(channel="C1", ts=posted["ts"], text="Alice was unmuted")
    respond = AsyncWebhookClient(slack_api.response_url("T123", channel="C1", user="U0MOD0001"))
    assert (await respond.send(text="done", response_type="in_channel")).status_code == 200
    assert (await respond.send(text="private")).status_code == 200

    summary = [(m.kind, m.text, m.ephemeral, m.user) for m in slack_api.state.messages()]

    assert summary == [
        ("postMessage", "Alice was muted", False, None),
        ("postEphemeral", "only you", True, "U0MOD0001"),
        ("update", "Alice was unmuted", False, None),
        ("response", "done", False, "U0MOD0001"),
        ("response", "private", True, "U0MOD0001"),
    ]
    assert slack_api.state.messages()[2].ts == posted["ts"]


async def test_views_get_an_id(client):
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Dial"}, "blocks": []}

    opened = await client.views_open(trigger_id="123.456", view=view)
    updated = await client.views_update(view_id=opened["view"]["id"], view=view)

    assert opened["view"]["id"].startswith("V")
    assert updated["view"]["id"] == opened["view"]["id"]


async def test_users_and_conversations_info(client, slack_api):
    slack_api.state.set_user("U0ALICE01", "alice", "Alice Parkes")

    user = await client.users_info(user="U0ALICE01")
    channel = await client.conversations_info(channel="C0ROOMS01")

    assert user["user"]["real_name"] == "Alice Parkes"
    assert channel["channel"]["id"] == "C0ROOMS01"


async def test_unknown_method(client):
    with pytest.raises(SlackApiError) as raised:
        await client.api_call("pins.add")

    assert raised.value.response["error"] == "unknown_method"


async def test_rate_limit_carries_retry_after_then_recovers(client, slack_api):
    slack_api.state.fail("chat.postMessage", 429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C1", text="hi")
    await client.chat_postMessage(channel="C1", text="hi again")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert [c.status for c in slack_api.state.calls("chat.postMessage")] == [429, 200]


async def test_latency_is_applied(client, slack_api):
    slack_api.state.set_latency("auth.test", 0.2)

    started = time.monotonic()
    await client.auth_test()

    assert time.monotonic() - started >= 0.2


async def test_reset_forgets_everything(client, slack_api):
    await client.chat_postMessage(channel="C1", text="hi")
    slack_api.state.fail("auth.test", 500)

    slack_api.state.reset()

    assert slack_api.state.calls() == []
    assert slack_api.state.messages() == []
    assert (await client.auth_test())["ok"]
