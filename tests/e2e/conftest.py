"""Helpers for the stories: wait for what the Slack stand-in received."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


class Seen:
    """What reached Slack, as a user would see it."""

    def __init__(self, slack_api: Any) -> None:
        self.state = slack_api.state

    def wait(self, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.state.messages():
                if predicate(message):
                    return message
            time.sleep(0.02)
        shown = "\n".join(
            f"  {m.kind} ephemeral={m.ephemeral}: {m.text[:120]}" for m in self.state.messages()
        )
        raise AssertionError(f"no such message within {timeout}s; Slack saw:\n{shown}")

    def public(self, fragment: str, timeout: float = 5.0) -> Any:
        return self.wait(
            lambda m: not m.ephemeral and m.kind != "update" and fragment in m.text, timeout
        )

    def private(self, fragment: str, timeout: float = 5.0) -> Any:
        return self.wait(lambda m: m.ephemeral and fragment in m.text, timeout)

    def update(self, fragment: str, timeout: float = 5.0) -> Any:
        return self.wait(lambda m: m.kind == "update" and fragment in m.text, timeout)

    def buttons(self, message: Any) -> list[dict[str, Any]]:
        found = []
        for block in message.blocks or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("type") == "button":
                    found.append({**element, "block_id": block.get("block_id", "")})
        return found

    def button(self, message: Any, label: str, near: str | None = None) -> dict[str, Any]:
        """The button with this label (in the row that mentions `near`, when given)."""
        blocks = message.blocks or []
        for index, block in enumerate(blocks):
            if block.get("type") != "actions":
                continue
            context = blocks[index - 1].get("text", {}).get("text", "") if index else ""
            if near is not None and near not in context:
                continue
            for element in block["elements"]:
                if element.get("text", {}).get("text") == label:
                    return {**element, "block_id": block.get("block_id", "")}
        raise AssertionError(f"no button {label!r} near {near!r}")


@pytest.fixture
def seen(slack_api: Any) -> Seen:
    return Seen(slack_api)
