"""A new `pexbot serve` on PostgreSQL opens the database sessions an acknowledgement uses (the
seen-once claim's, the command record's) before it serves: the first burst after a deploy or
a restart waits for no new connection (a server process forked, authentication) on the
acknowledgement's path."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import psycopg
import pytest

from tests.fixtures.bot import ADMIN
from tests.several.conftest import POSTGRES_URL, Deployment, Process

pytestmark = pytest.mark.postgres

PARTICIPANTS = "/api/admin/status/v1/participant/"


def backends(process: Process, role: str) -> set[int]:
    """The server processes of `process`'s sessions named for `role` (as `process_name`)."""
    name = f"pexbot {role} {socket.gethostname()} pid {process.pid}"[:63]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
        ).fetchall()
    return {int(row[0]) for row in rows}


def test_the_acknowledgements_sessions_are_open_before_the_first_request(
    deployment: Deployment, simulator: Any, slack_api: Any
) -> None:
    serve = deployment.serve()
    claims, records = backends(serve, "seen-once"), backends(serve, "journal")
    assert len(claims) == 1
    assert len(records) == 1

    with httpx.Client(base_url=simulator.url, auth=simulator.auth) as http:
        found = http.get(PARTICIPANTS, params={"limit": 1}).raise_for_status().json()
    answer = deployment.slack(serve, slack_api).command(
        f"mute {found['objects'][0]['id']}", user=ADMIN, channel="CREADY01"
    )
    assert answer.status_code == 200

    # the first request was claimed and recorded on those sessions: none was opened for it
    assert backends(serve, "seen-once") == claims
    assert backends(serve, "journal") == records
