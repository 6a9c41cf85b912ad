"""What Slack sends to `/slack/events`, built and signed like Slack does.

The demo console, the tests and the benchmarks use this to drive the bot through its real HTTP
endpoint: slash commands, button clicks, modal submissions and options requests, each signed
with slack_sdk's `SignatureVerifier` (the same code Bolt verifies with).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

ResponseUrl = Callable[..., str]


@dataclass
class SlackRequests:
    """Sends signed Slack payloads to a bot at `url` (its base URL)."""

    url: str
    secret: str
    response_url: ResponseUrl
    team: str = "T0TEST001"
    command_name: str = "/pexip"
    timeout: float = 10.0
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _http: httpx.Client = field(default_factory=httpx.Client)

    def close(self) -> None:
        self._http.close()

    def post(
        self, body: str, *, timestamp: int | None = None, secret: str | None = None
    ) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        verifier = SignatureVerifier(secret or self.secret)
        signature = verifier.generate_signature(timestamp=ts, body=body) or ""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        return self._http.post(
            self.url + "/slack/events", content=body, headers=headers, timeout=self.timeout
        )

    def _token(self) -> str:
        return f"r{next(self._ids)}"

    def command(self, text: str, *, user: str, channel: str, **signing: Any) -> httpx.Response:
        token = self._token()
        body = urlencode(
            {
                "command": self.command_name,
                "text": text,
                "user_id": user,
                "user_name": user.lower(),
                "channel_id": channel,
                "team_id": self.team,
                "response_url": self.response_url(token, channel=channel, user=user),
                "trigger_id": f"trigger-{token}",
            }
        )
        return self.post(body, **signing)

    def interact(self, payload: dict[str, Any], **signing: Any) -> httpx.Response:
        return self.post(urlencode({"payload": json.dumps(payload)}), **signing)

    def _actor(self, user: str) -> dict[str, Any]:
        return {
            "user": {"id": user, "username": user.lower(), "team_id": self.team},
            "team": {"id": self.team},
        }

    def click(
        self, button: dict[str, Any], *, user: str, channel: str, **signing: Any
    ) -> httpx.Response:
        """Press a button as rendered in a message (its dict from the blocks, with block_id)."""
        action = {"type": "button", "value": button.get("value", "")}
        return self._act(button, action, user=user, channel=channel, **signing)

    def choose(
        self, choice: dict[str, Any], label: str, *, user: str, channel: str, **signing: Any
    ) -> httpx.Response:
        """Pick the option whose label starts with `label` in a select menu (its dict from the
        blocks, with block_id), as Slack sends it: the option under `selected_option`."""
        option = next(o for o in choice["options"] if o["text"]["text"].startswith(label))
        action = {"type": "static_select", "selected_option": option}
        return self._act(choice, action, user=user, channel=channel, **signing)

    def _act(
        self,
        element: dict[str, Any],
        action: dict[str, Any],
        *,
        user: str,
        channel: str,
        **signing: Any,
    ) -> httpx.Response:
        """A `block_actions` payload for one element of an ephemeral message, as Slack sends it."""
        token = self._token()
        payload = {
            "type": "block_actions",
            **self._actor(user),
            "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
            "trigger_id": f"trigger-{token}",
            "response_url": self.response_url(token, channel=channel, user=user),
            "actions": [
                {
                    "action_id": element["action_id"],
                    "block_id": element.get("block_id", ""),
                    **action,
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.interact(payload, **signing)

    def submit(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str, **signing: Any
    ) -> httpx.Response:
        """Submit a form as the bot opened it: `values` is block id → the element's state,
        e.g. `{"destination": {"value": "bob@example.com"}}`."""
        state = {block: {_action_id(view, block): value} for block, value in values.items()}
        payload = {
            "type": "view_submission",
            **self._actor(user),
            "trigger_id": f"trigger-{self._token()}",
            "view": {**view, "id": view.get("id", "V0FORM0001"), "state": {"values": state}},
        }
        return self.interact(payload, **signing)

    def suggest(
        self, view: dict[str, Any], action_id: str, typed: str, *, user: str, **signing: Any
    ) -> httpx.Response:
        """The options request Slack sends while someone types into a form's external select."""
        blocks = view.get("blocks", [])
        owner = [b for b in blocks if b.get("element", {}).get("action_id") == action_id]
        block: dict[str, Any] = owner[0] if owner else {}
        payload = {
            "type": "block_suggestion",
            **self._actor(user),
            "action_id": action_id,
            "block_id": block.get("block_id", ""),
            "value": typed,
            "view": {**view, "id": view.get("id", "V0FORM0001")},
        }
        return self.interact(payload, **signing)


def _action_id(view: dict[str, Any], block_id: str) -> str:
    for block in view.get("blocks", []):
        if block.get("block_id") == block_id:
            return str(block.get("element", {}).get("action_id", "value"))
    return "value"
