"""A real PostgreSQL for the coordination tests (PEXBOT_TEST_POSTGRES_URL, from .ci/postgres.sh),
with pexbot's coordination tables dropped before each test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
import sqlalchemy

from bot.store.database import database_url

POSTGRES_URL = os.environ.get("PEXBOT_TEST_POSTGRES_URL")
TABLES = ("pending_commands", "message_versions")


def reset_tables(url: str) -> None:
    engine = sqlalchemy.create_engine(database_url(url))
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


@pytest.fixture
def pg_url() -> str:
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    reset_tables(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def other_process() -> Iterator[list[subprocess.Popen[str]]]:
    """Start Python code in another process (`start(code)`); killed at the end if still there."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(5)


def start_python(started: list[subprocess.Popen[str]], code: str) -> subprocess.Popen[str]:
    """Run `code` in a new interpreter; returns once it printed its first line ("ready")."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    started.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", f"the other process said {line!r}"
    return process
