"""Health alerts run as the clock runs them: `health_poll()` reads the environment, the
simulator and the Slack stand-in over real HTTP, and remembers in a SQLite file; each call is a
fresh start (new client, new database connection), like a restarted clock."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from bot.store.database import database_url

OPS = "C0OPS0001"
POSTGRES_URL = os.environ.get("PEXBOT_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An SQLite file, and PostgreSQL (its health_alerts table dropped) when one is given."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pexbot.db'}"
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    engine = sqlalchemy.create_engine(database_url(POSTGRES_URL))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP TABLE IF EXISTS health_alerts"))
    engine.dispose()
    return POSTGRES_URL


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
