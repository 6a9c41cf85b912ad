"""One deployment of several real processes (`python -m bot serve` / `clock`) on one real
PostgreSQL database, against the session's simulator and Slack stand-in (real HTTP servers in
this process). Each process is configured only through its environment, as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from bot.coordination.leader import describe_leader
from bot.store.database import database_url
from tests.fixtures.bot import SIGNING_SECRET, TEAM, SlackClient, bot_environment

POSTGRES_URL = os.environ.get("PEXBOT_TEST_POSTGRES_URL")
BACKUP_CHANNEL = "C0BACKUPS"


def empty_database(url: str) -> None:
    """Every table of earlier tests gone: this deployment starts from nothing."""
    engine = sqlalchemy.create_engine(database_url(url))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP SCHEMA public CASCADE"))
        connection.execute(sqlalchemy.text("CREATE SCHEMA public"))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """One `pexbot serve` or `pexbot clock`."""

    role: str
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a host dies under it."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Deployment:
    env: dict[str, str]
    folder: Path
    processes: list[Process] = field(default_factory=list)

    def serve(self, **env: str) -> Process:
        port = free_port()
        process = self._spawn("serve", {"PORT": str(port), **env})
        process.url = f"http://127.0.0.1:{port}"
        self._wait_healthy(process)
        return process

    def clock(self, **env: str) -> Process:
        return self._spawn("clock", env)

    def _spawn(self, role: str, env: dict[str, str]) -> Process:
        name = f"{role}-{sum(p.role == role for p in self.processes) + 1}"
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "bot", role],
                env={**self.env, **env},
                cwd=self.folder,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = Process(role, name, popen, log)
        self.processes.append(process)
        return process

    def _wait_healthy(self, process: Process, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                assert process.alive(), f"{process.name} exited:\n{process.log_text()}"
                try:
                    if http.get(process.url + "/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"{process.name} never became healthy:\n{process.log_text()}")

    def slack(self, process: Process, slack_api: Any) -> SlackClient:
        return SlackClient(process.url, SIGNING_SECRET, slack_api.response_url, team=TEAM)

    def stop(self) -> None:
        for process in self.processes:
            if process.alive():
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.popen.wait(20)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(5)


@pytest.fixture
def deployment(simulator: Any, slack_api: Any, tmp_path: Path) -> Iterator[Deployment]:
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    empty_database(POSTGRES_URL)
    simulator.control.settings(backup_delay=0.1)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SLACK_", "PEXIP_", "BACKUP_", "AUDIT_"))
    }
    env.update(bot_environment(simulator, slack_api, tmp_path))
    env.update(
        DATABASE_URL=POSTGRES_URL,
        PEXIP_MAX_CONCURRENCY="1",
        BACKUP_CHANNEL=BACKUP_CHANNEL,
        BACKUP_WAIT_SECONDS="10",
        LOG_LEVEL="INFO",
    )
    deployment = Deployment(env, tmp_path)
    try:
        yield deployment
    finally:
        deployment.stop()


def leading(clocks: list[Process]) -> Process | None:
    """The clock that holds the lead, if one of these does (read from pg_locks, as `pexbot
    check` does)."""
    name = asyncio.run(describe_leader(POSTGRES_URL or "")).name or ""
    return next((clock for clock in clocks if name.endswith(f"pid {clock.pid}")), None)


def wait_for_leader(clocks: list[Process], timeout: float = 30.0) -> Process:
    """Until one of `clocks` leads and all the others wait in the lock's queue (pg_locks: not
    the logs, which are asserted by the tests that mean to); the leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = asyncio.run(describe_leader(POSTGRES_URL or ""))
        found = leading(clocks)
        if found is not None and info.waiting == len(clocks) - 1:
            return found
        time.sleep(0.1)
    logs = "\n".join(f"{clock.name}:\n{clock.log_text()}" for clock in clocks)
    raise AssertionError(f"no clock led with the others waiting within {timeout} s:\n{logs}")
