"""A PostgreSQL server for the cases that need one (`several`): the one named by
PEXBOT_TEST_POSTGRES_URL, else a throwaway started with `.ci/postgres.sh` (and stopped after).
Each use gets a fresh database of its own, dropped afterwards."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

from bench.botprocess import REPO

SCRIPT = REPO / ".ci" / "postgres.sh"


@contextmanager
def server() -> Iterator[str]:
    """The URL of a server to create databases on."""
    url = os.environ.get("PEXBOT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    started = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=True)
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in started.stdout.splitlines()
        if line.startswith("export ")
    )
    try:
        yield exports["PEXBOT_TEST_POSTGRES_URL"]
    finally:
        subprocess.run(
            ["bash", str(SCRIPT), "stop", exports["PEXBOT_TEST_POSTGRES_DIR"]],
            capture_output=True,
            check=False,
        )


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on `server_url`; its URL. Dropped on the way out."""
    name = f"pexbot_bench_{secrets.token_hex(4)}"
    admin = make_url(server_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
