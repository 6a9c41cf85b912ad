"""Helpers for the stories: wait for what the Slack stand-in received, what reached the node, and
what the audit log holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from bot.store.audit import AuditEntry, AuditStore

T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], timeout: float = 5.0, what: str = "it") -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.02)


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
            f"  {m.kind} ephemeral={m.ephemeral} channel={m.channel}: {m.text[:120]}"
            for m in self.state.messages()
        )
        raise AssertionError(f"no such message within {timeout}s; Slack saw:\n{shown}")

    def public(self, fragment: str, timeout: float = 5.0, channel: str | None = None) -> Any:
        return self.wait(
            lambda m: (
                not m.ephemeral
                and m.kind != "update"
                and fragment in m.shown
                and channel in (None, m.channel)
            ),
            timeout,
        )

    def private(self, fragment: str, timeout: float = 5.0) -> Any:
        return self.wait(lambda m: m.ephemeral and fragment in m.shown, timeout)

    def update(self, fragment: str, timeout: float = 5.0) -> Any:
        return self.wait(lambda m: m.kind == "update" and fragment in m.shown, timeout)

    def replaced(self, fragment: str, timeout: float = 5.0) -> Any:
        """The message whose button was clicked, replaced in place (e.g. a refreshed listing)."""
        return self.wait(lambda m: m.replace_original and fragment in m.shown, timeout)

    def deleted(self, timeout: float = 5.0) -> Any:
        """The message whose button was clicked, taken away."""
        return self.wait(lambda m: m.delete_original, timeout)

    def in_channel(self) -> list[Any]:
        """Everything everyone in a channel can see (new messages and edits)."""
        return [m for m in self.state.messages() if not m.ephemeral]

    def everything(self) -> list[Any]:
        return self.state.messages()

    def view(self, method: str, timeout: float = 5.0) -> dict[str, Any]:
        """The view the bot sent with its latest `views.open` / `views.update` call."""
        calls = wait_until(lambda: self.state.calls(method), timeout, f"{method}")
        view: dict[str, Any] = calls[-1].params["view"]
        return view

    def buttons(self, message: Any) -> list[dict[str, Any]]:
        found = []
        for block in message.blocks or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("type") == "button":
                    found.append({**element, "block_id": block.get("block_id", "")})
        return found

    def labels(self, message: Any, near: str | None = None) -> list[str]:
        """The labels of the buttons (in the row that follows the line mentioning `near`)."""
        return [button["text"]["text"] for button in self._rows(message, near)]

    def button(self, message: Any, label: str, near: str | None = None) -> dict[str, Any]:
        """The button with this label (in the row that mentions `near`, when given)."""
        for element in self._rows(message, near):
            if element.get("text", {}).get("text") == label:
                return element
        raise AssertionError(f"no button {label!r} near {near!r}")

    def _rows(self, message: Any, near: str | None) -> list[dict[str, Any]]:
        blocks = message.blocks or []
        found = []
        for index, block in enumerate(blocks):
            if block.get("type") != "actions":
                continue
            context = blocks[index - 1].get("text", {}).get("text", "") if index else ""
            if near is not None and near not in context:
                continue
            block_id = block.get("block_id", "")
            found += [
                {**element, "block_id": block_id}
                for element in block["elements"]
                if element.get("type") == "button"
            ]
        return found

    def choice(self, message: Any, near: str) -> dict[str, Any]:
        """The choice (a select menu) in the row that follows the line mentioning `near`."""
        blocks = message.blocks or []
        for index, block in enumerate(blocks):
            context = blocks[index - 1].get("text", {}).get("text", "") if index else ""
            if block.get("type") == "actions" and near in context:
                for element in block["elements"]:
                    if element.get("type") == "static_select":
                        return {**element, "block_id": block.get("block_id", "")}
        raise AssertionError(f"no choice near {near!r}")


@pytest.fixture
def seen(slack_api: Any) -> Seen:
    return Seen(slack_api)


# --- the management node ----------------------------------------------------------------------


def node_commands(simulator: Any, command: str | None = None) -> list[dict[str, Any]]:
    """The bodies of the commands the node received (`command` e.g. "participant/mute")."""
    records = simulator.control.stats()["commands"]
    return [dict(r["body"]) for r in records if command is None or r["command"] == command]


def node_command_names(simulator: Any) -> list[str]:
    return [r["command"] for r in simulator.control.stats()["commands"]]


def participant(simulator: Any, name: str) -> dict[str, Any]:
    """A participant as the node's status API shows it."""
    objects = participants(simulator, display_name=name)
    assert objects, f"{name} is not in any conference"
    return objects[0]


def participants(simulator: Any, **filters: str) -> list[dict[str, Any]]:
    objects = httpx.get(
        simulator.url + "/api/admin/status/v1/participant/",
        params={"limit": "0", **filters},
        auth=simulator.auth,
    ).json()["objects"]
    return [dict(o) for o in objects]


def conference(simulator: Any, name: str) -> dict[str, Any] | None:
    """A running conference as the node's status API shows it (None if not running)."""
    objects = httpx.get(
        simulator.url + "/api/admin/status/v1/conference/",
        params={"name": name},
        auth=simulator.auth,
    ).json()["objects"]
    return dict(objects[0]) if objects else None


# --- the audit log -----------------------------------------------------------------------------


def audit_entries(bot: Any) -> list[AuditEntry]:
    """The audit log, newest first, read from the bot's DATABASE_URL."""
    store = AuditStore(bot.settings.database_url)
    try:
        return asyncio.run(store.recent(200))
    finally:
        store.close()


def audited(bot: Any, timeout: float = 5.0, **fields: str) -> AuditEntry:
    """Wait for the audit entry whose fields (user, command, outcome, target...) match."""

    def matching() -> AuditEntry | None:
        for entry in audit_entries(bot):
            shown = entry.as_json()
            if all(shown[name] == value for name, value in fields.items()):
                return entry
        return None

    return wait_until(matching, timeout, f"an audit entry {fields}")


def backup_files(simulator: Any) -> list[dict[str, Any]]:
    """The backup files on the node (filename, date, version, build, size), newest first."""
    objects = httpx.get(
        simulator.url + "/api/admin/configuration/v1/system_backup/",
        params={"limit": "0"},
        auth=simulator.auth,
    ).json()["objects"]
    return sorted((dict(o) for o in objects), key=lambda o: str(o["date"]), reverse=True)
