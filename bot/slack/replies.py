"""Who is acting, where, and the ways to answer them.

A slash command, a button click, a confirmation and a modal submission all become one
`Interaction`; the runner answers through it without caring where it came from:
`private` (only the person who acted), `public` (everyone in the channel), `replace_source`
(the message whose button was clicked, e.g. to refresh a listing in place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.client import retry_handlers
from bot.slack.mrkdwn import as_mrkdwn

Source = Literal["slash", "button", "confirm", "modal", "options", "pick", "approval"]
Blocks = list[dict[str, Any]]

# The channel cannot take a bot message (bot not invited, a DM): answer through response_url.
_NOT_POSTABLE = {"not_in_channel", "channel_not_found", "is_archived"}


@dataclass(frozen=True)
class Message:
    """Every message has a plain-text fallback besides its blocks.

    The render boundary: `text` is `Mrkdwn` rendered by `bot.slack.mrkdwn.render`, or else it is
    taken as outside text and shown literally (`as_mrkdwn`). Blocks carry their text through
    `handlers.blocks.section` / `note`, which do the same."""

    text: str
    blocks: Blocks | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", as_mrkdwn(self.text))


@dataclass(frozen=True)
class Interaction:
    """The person acting and where: the permission check and the audit are about `user_id`."""

    user_id: str
    channel_id: str | None
    team_id: str = ""
    response_url: str | None = None
    trigger_id: str | None = None
    source: Source = "slash"
    refresh: str | None = None  # command text of the listing a button lives in
    user_team_id: str = ""  # the person's own workspace, when Slack says (interactions)
    enterprise_id: str = ""


@dataclass
class Replies:
    """Answers one interaction through the Slack Web API or its response_url."""

    client: AsyncWebClient
    interaction: Interaction
    posted: list[str] = field(default_factory=list)

    async def private(self, message: Message) -> None:
        """Only the person who acted sees it."""
        if self.interaction.response_url:
            await self._respond(message, response_type="ephemeral", replace_original=False)
            return
        if self.interaction.channel_id:
            await self.client.chat_postEphemeral(
                channel=self.interaction.channel_id,
                user=self.interaction.user_id,
                text=message.text,
                blocks=message.blocks,
            )
            return
        await self.client.chat_postMessage(
            channel=self.interaction.user_id, text=message.text, blocks=message.blocks
        )

    async def public(self, message: Message) -> str | None:
        """Everyone in the channel sees it; returns the message ts when it can be updated."""
        channel = self.interaction.channel_id
        if channel:
            try:
                reply = await self.client.chat_postMessage(
                    channel=channel, text=message.text, blocks=message.blocks
                )
            except SlackApiError as exc:
                if (
                    exc.response.get("error") not in _NOT_POSTABLE
                    or not self.interaction.response_url
                ):
                    raise
            else:
                ts = reply.get("ts")
                self.posted.append(str(ts))
                return str(ts) if ts else None
        await self._respond(message, response_type="in_channel", replace_original=False)
        return None

    async def update(self, ts: str, message: Message) -> None:
        """Edit a public message posted earlier (e.g. a dialled call's progress)."""
        if self.interaction.channel_id:
            await self.client.chat_update(
                channel=self.interaction.channel_id, ts=ts, text=message.text, blocks=message.blocks
            )

    async def replace_source(self, message: Message) -> None:
        """Replace the message whose button was clicked (listings refresh in place)."""
        if self.interaction.response_url:
            await self._respond(message, replace_original=True)

    async def delete_source(self) -> None:
        if self.interaction.response_url:
            await _send(self.interaction.response_url, {"delete_original": True}, self.client)

    async def _respond(self, message: Message, **options: Any) -> None:
        url = self.interaction.response_url
        assert url is not None
        body: dict[str, Any] = {"text": message.text, **options}
        if message.blocks is not None:
            body["blocks"] = message.blocks
        response = await _send(url, body, self.client)
        if response.status_code >= 300:
            raise SlackApiError(  # type: ignore[no-untyped-call]
                f"response_url answered HTTP {response.status_code}",
                {"ok": False, "error": f"http_{response.status_code}"},
            )


async def _send(response_url: str, body: dict[str, Any], client: AsyncWebClient) -> WebhookResponse:
    """POST to a response_url over the Web API client's keep-alive session when it has one
    (`Runtime.open`). One retry policy, the Web API client's (`bot.slack.client`): slack_sdk's
    webhook client applies it to every 4xx/5xx answer and dropped connection itself, so nothing
    here tries again on top of it."""
    webhook = AsyncWebhookClient(
        response_url, session=client.session, retry_handlers=retry_handlers()
    )
    return await webhook.send_dict(body)
