"""Health alerts run as the clock runs them: `health_poll()` reads the environment, the
simulator and the Slack stand-in over real HTTP, and remembers in a SQLite file; each call is a
fresh start (new client, new database connection), like a restarted clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.databases import KINDS, fresh_database

OPS = "C0OPS0001"


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An SQLite file, and PostgreSQL (its health_alerts table dropped) when one is given."""
    return fresh_database(request.param, tmp_path / "pexbot.db", "health_alerts")


@pytest.fixture
def ops_env(
    simulator: Any, slack_api: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": slack_api.bot_token,
        "SLACK_API_URL": slack_api.url,
        "PEXIP_MANAGER_URL": simulator.url,
        "PEXIP_USERNAME": simulator.username,
        "PEXIP_PASSWORD": simulator.password,
        "PEXIP_TIMEOUT": "2",
        "DATABASE_URL": db_url,
        "OPS_CHANNEL": OPS,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def poll(ops_env: dict[str, str]) -> Callable[[], Awaitable[None]]:
    """One run of the clock's health job."""
    from bot.health.poll import health_poll

    return health_poll
