"""Shared fixtures: real local servers (simulator, Slack stand-in) and a clean environment.

Each area keeps its fixtures in tests/fixtures/<area>.py; they are loaded here as plugins.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.slack",
    "tests.fixtures.bot",
]


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's own environment or `.env`: every variable is unset and the
    working directory is an empty folder."""
    import os

    for name in list(os.environ):
        if name.startswith(("SLACK_", "PEXIP_", "BACKUP_", "AUDIT_")) or name in {
            "PORT",
            "PERMISSIONS_FILE",
            "DATABASE_URL",
            "LOG_LEVEL",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
