"""`pexbot audit [--json] [--limit N] [--since ISO8601]`, as an operator runs it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from bot.store.audit import AuditEntry, AuditStore, Outcome
from bot.store.audit_cli import parse_since, run_audit_cli
from tests.store.test_audit import reset_postgres

POSTGRES_URL = os.environ.get("PEXBOT_TEST_POSTGRES_URL")
START = datetime(2026, 11, 22, 10, 15, 3, tzinfo=UTC)
ROWS = [
    ("U0MOD0001", "mute", "Alice Parkes (VMR_1)", Outcome.SUCCESS, ""),
    ("U0VIEW001", "end", "VMR_1", Outcome.DENIED, "you need the `end` permission"),
    ("U0MOD0001", "dial", "VMR_1", Outcome.INVALID, "node must be an IP address"),
    ("U0ADMIN01", "backup", "now", Outcome.ERROR, "the node did not answer"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audit_db(request: pytest.FixtureRequest, tmp_path) -> str:
    """An audit log holding ROWS, one minute apart, oldest first."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/pexbot.db"
    elif not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    else:
        reset_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    store = AuditStore(url)
    for minute, (user, command, target, outcome, detail) in enumerate(ROWS):
        at = START + timedelta(minutes=minute)
        row = AuditEntry(
            at=at,
            user=user,
            team="T0TEAM001",
            channel="C0ROOMS01",
            command=command,
            target=target,
            outcome=outcome,
            detail=detail,
            correlation_id=f"cid{minute:05d}",
        )
        asyncio.run(store.record(row))
    store.close()
    return url


def run(url: str, *, as_json: bool = False, limit: int = 50, since: str | None = None):
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    code = run_audit_cli(
        url,
        as_json=as_json,
        limit=limit,
        since=parse_since(since) if since else None,
        console=console,
    )
    return code, out.getvalue()


def test_json_prints_one_object_per_line_newest_first(audit_db):
    code, output = run(audit_db, as_json=True)

    lines = output.splitlines()
    assert code == 0
    assert [json.loads(line)["command"] for line in lines] == ["backup", "dial", "end", "mute"]
    assert json.loads(lines[-1]) == {
        "at": "2026-11-22T10:15:03Z",
        "user": "U0MOD0001",
        "channel": "C0ROOMS01",
        "command": "mute",
        "target": "Alice Parkes (VMR_1)",
        "outcome": "success",
        "detail": "",
        "team": "T0TEAM001",
        "correlation_id": "cid00000",
        "ref": "cid00000",
        "approved_by": None,
    }
    assert list(json.loads(lines[0]))[:7] == [
        "at",
        "user",
        "channel",
        "command",
        "target",
        "outcome",
        "detail",
    ]


def test_limit_keeps_the_newest(audit_db):
    code, output = run(audit_db, as_json=True, limit=2)

    assert code == 0
    assert [json.loads(line)["command"] for line in output.splitlines()] == ["backup", "dial"]


@pytest.mark.parametrize(
    "since", ["2026-11-22T10:16:03Z", "2026-11-22T11:16:03+01:00", "2026-11-22T10:16:03"]
)
def test_since_accepts_z_an_offset_or_utc_by_default(audit_db, since):
    code, output = run(audit_db, as_json=True, since=since)

    assert code == 0
    assert [json.loads(line)["command"] for line in output.splitlines()] == [
        "backup",
        "dial",
        "end",
    ]


def test_the_table_is_readable(audit_db):
    code, output = run(audit_db)

    assert code == 0
    assert "Audit log, newest first" in output
    for heading in ("At (UTC)", "User", "Channel", "Command", "Target", "Outcome", "Detail"):
        assert heading in output
    assert "2026-11-22 10:18:03" in output
    assert "you need the `end` permission" in output
    assert output.index("backup") < output.index("dial") < output.index("Alice Parkes")


def test_an_empty_log_says_so(tmp_path):
    code, output = run(f"sqlite:///{tmp_path}/new.db")

    assert code == 0
    assert "no audit entries" in output


def test_an_empty_log_prints_no_json_lines(tmp_path):
    code, output = run(f"sqlite:///{tmp_path}/new.db", as_json=True)

    assert (code, output) == (0, "")


def test_an_unreachable_database_is_one_line_without_password():
    code, output = run("postgresql://pexbot:hunter2@127.0.0.1:1/pexbot?connect_timeout=2")

    assert code == 1
    assert output.startswith("pexbot audit: the audit log at postgresql+psycopg://pexbot:***@")
    assert "hunter2" not in output
    assert "Traceback" not in output


def test_a_bad_database_url_names_the_variable():
    code, output = run("not a url")

    assert code == 1
    assert "DATABASE_URL: not a database URL" in output


def test_limit_must_be_positive(tmp_path):
    code, output = run(f"sqlite:///{tmp_path}/new.db", limit=0)

    assert code == 2
    assert "--limit must be 1 or more" in output


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-22T10:15:03Z", datetime(2026, 11, 22, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-22T12:15:03+02:00", datetime(2026, 11, 22, 10, 15, 3, tzinfo=UTC)),
        ("2026-11-22 10:15", datetime(2026, 11, 22, 10, 15, tzinfo=UTC)),
        ("2026-11-22", datetime(2026, 11, 22, tzinfo=UTC)),
    ],
)
def test_parse_since(text, moment):
    parsed = parse_since(text)

    assert parsed == moment
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "10:15", ""])
def test_parse_since_refuses_other_text_clearly(text):
    with pytest.raises(ValueError) as raised:
        parse_since(text)

    assert str(raised.value) == (
        f"--since: {text!r} is not an ISO 8601 time, "
        "e.g. 2026-11-22T10:15:00Z or 2026-11-22T11:15:00+01:00"
    )


def _pexbot_audit(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed CLI, in a clean environment, as an operator would type it."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": database,
            "COLUMNS": "200",
        },
    )


def test_pexbot_audit_from_the_command_line(audit_db: str) -> None:
    result = _pexbot_audit(audit_db, "--json", "--limit", "3", "--since", "2026-11-22T10:16:00Z")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["command"] for line in lines] == ["backup", "dial", "end"]
    assert list(lines[0])[:7] == ["at", "user", "channel", "command", "target", "outcome", "detail"]
    assert lines[-1]["at"] == "2026-11-22T10:16:03Z"


def test_pexbot_audit_table_and_mistakes_from_the_command_line(audit_db: str) -> None:
    table = _pexbot_audit(audit_db)
    assert table.returncode == 0
    assert "Alice Parkes (VMR_1)" in table.stdout and "denied" in table.stdout
    for bad in (["--since", "yesterday"], ["--limit", "0"]):
        result = _pexbot_audit(audit_db, *bad)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert result.stderr.strip()


HOSTILE = "Mallory\x1b[2J\x1b]0;pwned\x07\x9b31m \u202eevil\nnext"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hostile_db(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/pexbot.db"
    elif not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    else:
        reset_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    store = AuditStore(url)
    row = AuditEntry(
        user="U0MOD0001",
        command="disconnect",
        target=f"{HOSTILE}\x00 (VMR_1)",
        outcome=Outcome.SUCCESS,
        detail=HOSTILE,
    )
    asyncio.run(store.record(row))
    store.close()
    return url


def test_the_table_shows_control_characters_escaped_never_raw(hostile_db):
    code, output = run(hostile_db)

    assert code == 0
    for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert raw not in output
    for shown in ("Mallory\\x1b[2J", "\\x07", "\\x9b31m", "\\u202eevil", "\\nnext", "\u2400"):
        assert shown in output


def test_json_escapes_every_control_character_and_still_parses(hostile_db):
    code, output = run(hostile_db, as_json=True)

    assert code == 0
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\x00"):
        assert raw not in output
    [line] = output.splitlines()
    assert json.loads(line)["detail"] == HOSTILE
