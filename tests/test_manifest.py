"""The Slack app manifests in slack/: valid for Slack, alike, and in step with `pexbot check`.

An operator creates the app from one of these files; `pexbot check` then compares the scopes the
token was granted with `REQUIRED_SCOPES`. These tests make sure the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.check import REQUIRED_SCOPES
from bot.config import Settings

SLACK_DIR = Path(__file__).resolve().parent.parent / "slack"
HTTP = "manifest.yaml"
SOCKET = "manifest.socket-mode.yaml"
BOTH = pytest.mark.parametrize("name", [HTTP, SOCKET])


def manifest(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SLACK_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def urls(node: Any, path: str = "") -> dict[str, str]:
    """Every `...url` value in the manifest, by its path."""
    found: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("url") and isinstance(value, str):
                found[f"{path}{key}"] = value
            found |= urls(value, f"{path}{key}.")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found |= urls(item, f"{path}{index}.")
    return found


def without_urls(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: without_urls(value) for key, value in node.items() if not key.endswith("url")}
    if isinstance(node, list):
        return [without_urls(item) for item in node]
    return node


@BOTH
def test_the_bot_scopes_are_exactly_those_pexbot_check_requires(name: str) -> None:
    scopes = manifest(name)["oauth_config"]["scopes"]

    assert set(scopes) == {"bot"}, "pexbot needs no user-token scopes"
    assert sorted(scopes["bot"]) == sorted(REQUIRED_SCOPES)


@BOTH
def test_the_slash_command_is_the_default_slack_command(name: str) -> None:
    [command] = manifest(name)["features"]["slash_commands"]

    assert command["command"] == "/pexip" == Settings.model_fields["slack_command"].default
    assert command["should_escape"] is False
    assert command["description"] and command["usage_hint"]


@BOTH
def test_the_app_is_a_single_workspace_bot_without_token_rotation(name: str) -> None:
    data = manifest(name)

    assert data["features"]["bot_user"]["display_name"] == "pexbot"
    assert data["settings"]["org_deploy_enabled"] is False
    assert data["settings"]["token_rotation_enabled"] is False
    assert data["settings"]["interactivity"]["is_enabled"] is True


@BOTH
def test_the_texts_fit_slacks_limits(name: str) -> None:
    info = manifest(name)["display_information"]

    assert len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000


def test_http_mode_sends_everything_to_slack_events() -> None:
    data = manifest(HTTP)

    assert data["settings"]["socket_mode_enabled"] is False
    assert set(urls(data)) == {
        "features.slash_commands.0.url",
        "settings.interactivity.request_url",
        "settings.interactivity.message_menu_options_url",
    }
    for url in urls(data).values():
        assert url.startswith("https://")
        assert url.endswith("/slack/events")


def test_socket_mode_has_no_urls() -> None:
    data = manifest(SOCKET)

    assert data["settings"]["socket_mode_enabled"] is True
    assert urls(data) == {}


def test_the_two_manifests_differ_only_in_urls_and_socket_mode() -> None:
    http, socket = without_urls(manifest(HTTP)), without_urls(manifest(SOCKET))
    for data in (http, socket):
        del data["settings"]["socket_mode_enabled"]

    assert http == socket
