"""`pexbot serve` as a real subprocess, configured only through its environment.

Its start-up time is measured from spawning the process to the first 200 from `/healthz`, and
its memory is the kernel's own account of it (`/proc/<pid>/status`: VmRSS now, VmHWM the peak).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
"""The checkout this bench belongs to: by default the bot runs from it too."""

# Variables the bot reads: none is inherited from the caller's environment.
_BOT_VARIABLES = ("SLACK_", "PEXIP_", "BACKUP_", "AUDIT_")
_BOT_NAMES = {"PORT", "PERMISSIONS_FILE", "DATABASE_URL", "LOG_LEVEL"}


@dataclass(frozen=True)
class BotConfig:
    simulator_url: str
    slack_api_url: str
    bot_token: str
    signing_secret: str
    permissions_file: Path
    database_file: Path
    max_concurrency: int = 1
    source: Path = REPO
    environment: tuple[tuple[str, str], ...] = ()  # more variables, e.g. for backups


@dataclass(frozen=True)
class Memory:
    rss_kib: int
    hwm_kib: int


def memory(pid: int) -> Memory:
    """VmRSS and VmHWM of a live process, from /proc (Linux)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return Memory(fields["VmRSS"], fields["VmHWM"])


def cpu_seconds(pid: int) -> float:
    """CPU time a live process has used so far, user and system, every thread (/proc, Linux):
    steadier than wall-clock figures on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python_path(*first: Path) -> str:
    """PYTHONPATH with `first`, then this checkout, before whatever was there already."""
    parts = [str(p) for p in (*first, REPO)] + [os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(dict.fromkeys(p for p in parts if p))


def serve_command(source: Path = REPO) -> list[str]:
    """The installed `pexbot serve` next to this Python, else `python -m bot serve` (the same);
    always the latter for a bot run from another tree (`--bot-source`)."""
    script = shutil.which("pexbot", path=str(Path(sys.executable).parent))
    if script and source == REPO:
        return [script, "serve"]
    return [sys.executable, "-m", "bot", "serve"]


def bot_environment(config: BotConfig, port: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_BOT_VARIABLES) and name not in _BOT_NAMES
    }
    env["PYTHONPATH"] = python_path(config.source)
    env.update(
        SLACK_BOT_TOKEN=config.bot_token,
        SLACK_SIGNING_SECRET=config.signing_secret,
        SLACK_API_URL=config.slack_api_url,
        PORT=str(port),
        PEXIP_MANAGER_URL=config.simulator_url,
        PEXIP_USERNAME="admin",
        PEXIP_PASSWORD="admin",
        PEXIP_MAX_CONCURRENCY=str(config.max_concurrency),
        PERMISSIONS_FILE=str(config.permissions_file),
        DATABASE_URL=f"sqlite:///{config.database_file}",
    )
    env.update(config.environment)
    return env


class BotProcess:
    """One `pexbot serve`; `start()` returns the seconds it took to answer /healthz."""

    def __init__(
        self, config: BotConfig, workdir: Path, name: str, command: list[str] | None = None
    ) -> None:
        self.config = config
        self.command = command or serve_command(config.source)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, timeout: float = 60.0) -> float:
        env = bot_environment(self.config, self.port)
        with self.log_path.open("wb") as log:
            began = time.monotonic()
            self._process = subprocess.Popen(
                self.command, env=env, cwd=self._workdir, stdout=log, stderr=log
            )
        self._wait_healthy(began, timeout)
        self.started_in = time.monotonic() - began
        return self.started_in

    def _wait_healthy(self, began: float, timeout: float) -> None:
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() - began < timeout:
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"pexbot serve exited at start-up:\n{self.log_tail()}")
                try:
                    if http.get(self.url + "/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.005)
        raise RuntimeError(
            f"pexbot serve was not healthy within {timeout:.0f}s:\n{self.log_tail()}"
        )

    def memory(self) -> Memory:
        return memory(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
