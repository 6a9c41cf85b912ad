"""The clock process with OPS_CHANNEL set: it polls at start and then every HEALTH_POLL_SECONDS,
and with `--metrics-port N` serves its own metrics. Run as `python -m bot clock`, stopped with
SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import ConfigError, Settings
from tests.health.conftest import OPS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Any, what: str, clock: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert clock.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{what}: {log.read_text()}"
        time.sleep(0.1)


def test_the_clock_posts_health_alerts_and_serves_its_metrics(
    ops_env: dict[str, str],
    simulator: Any,
    slack_api: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKUP_PASSPHRASE", "pp-4242")
    monkeypatch.setenv("BACKUP_CHANNEL", "C0BACKUPS")
    monkeypatch.setenv("HEALTH_POLL_SECONDS", "10")
    simulator.control.raise_alarm("Certificate expires soon", level="warning")
    port = free_port()
    log_file = tmp_path / "clock.log"
    with log_file.open("w") as log:
        clock = subprocess.Popen(
            [sys.executable, "-m", "bot", "clock", "--metrics-port", str(port)],
            env=os.environ.copy(),
            stderr=log,
            cwd=tmp_path,
        )
    try:
        alerts = lambda: [m for m in slack_api.state.messages() if m.channel == OPS]  # noqa: E731
        wait_for(alerts, "the alarm posted at start", clock, log_file)
        assert "Certificate expires soon" in alerts()[0].text
        body = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'pexbot_node_request_duration_seconds_count{kind="lookup"} 3.0' in body
        assert 'pexbot_slack_api_calls_total{method="chat.postMessage"} 1.0' in body
        fresh = ops_env["DATABASE_URL"].startswith("sqlite")  # PostgreSQL is shared by tests
        never = "pexbot_backup_last_success_timestamp_seconds 0.0"
        assert never in body if fresh else "pexbot_backup_last_success_timestamp_seconds " in body
        clock.send_signal(signal.SIGTERM)
        assert clock.wait(timeout=10) == 0
    finally:
        clock.kill()
    output = log_file.read_text()
    assert f"health alerts to {OPS} every 10 s (licences alert at 80%)" in output
    assert "Traceback" not in output


def test_health_settings_are_checked_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LICENSE_ALERT_PERCENT", "150")
    with pytest.raises(ConfigError, match="LICENSE_ALERT_PERCENT"):
        Settings.load()
    monkeypatch.setenv("LICENSE_ALERT_PERCENT", "90")
    monkeypatch.setenv("HEALTH_POLL_SECONDS", "1")
    with pytest.raises(ConfigError, match="HEALTH_POLL_SECONDS"):
        Settings.load()
