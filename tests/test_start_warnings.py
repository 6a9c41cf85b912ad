"""`pexbot serve` says at every start when the way to the management node is insecure: a plain
http:// URL (the API password in clear) or PEXIP_VERIFY_TLS=false, as `pexbot clock` does
(test_clock) and `pexbot check` does (test_check)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.bot import POLICY


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_until(log_file: Path, env: dict[str, str], wanted: str) -> str:
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, stderr=log, cwd=log_file.parent
        )
    try:
        deadline = time.monotonic() + 20
        while wanted not in log_file.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    finally:
        process.kill()
    return log_file.read_text()


@pytest.fixture
def serve_env(simulator: Any, slack_api: Any, tmp_path: Path) -> dict[str, str]:
    policy = tmp_path / "permissions.yaml"
    policy.write_text(POLICY)
    return os.environ | {
        "SLACK_BOT_TOKEN": slack_api.bot_token,
        "SLACK_SIGNING_SECRET": "start-warnings-secret",
        "SLACK_API_URL": slack_api.url,
        "PEXIP_MANAGER_URL": simulator.url,
        "PEXIP_USERNAME": simulator.username,
        "PEXIP_PASSWORD": simulator.password,
        "PERMISSIONS_FILE": str(policy),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'pexbot.db'}",
        "PORT": str(_free_port()),
    }


def test_serve_warns_at_start_that_plain_http_sends_the_password_in_clear(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    assert serve_env["PEXIP_MANAGER_URL"].startswith("http://")

    output = _serve_until(tmp_path / "serve.log", serve_env, "pexbot serving HTTP")

    assert (
        "WARNING bot.config: PEXIP_MANAGER_URL uses plain http: the API password and every "
        "command cross the network in clear (insecure); use https"
    ) in output


def test_serve_warns_at_start_when_tls_verification_is_off(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    env = serve_env | {
        "PEXIP_MANAGER_URL": "https://manager.example.invalid",
        "PEXIP_VERIFY_TLS": "false",
    }

    output = _serve_until(tmp_path / "serve.log", env, "pexbot serving HTTP")

    assert "PEXIP_VERIFY_TLS=false: the node's certificate is not verified" in output
