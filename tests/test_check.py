"""`pexbot check`: an operator runs it and reads one line per check.

Every test runs the real checks against the simulator and the Slack stand-in over HTTP(S), with
the environment set as an operator would, and asserts on the printed lines and the exit code.
"""

from __future__ import annotations

import io
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bot.check import REQUIRED_SCOPES, check_backups, next_backup, run_check
from bot.config import Settings
from bot.sandbox.slack_api import SlackStandIn
from bot.sandbox.slack_state import DEFAULT_SCOPES
from tests.fixtures.simulator import SimulatorHandle

NAMES = (
    "configuration",
    "permissions file",
    "database",
    "management node",
    "Slack",
    "backups",
    "clock",
)
SIGNING_SECRET = "signing-secret-4f1d9c"
PASSPHRASE = "backup-passphrase-77c2"
APP_TOKEN = "xapp-1-A0TEST001-0000-app-token-secret"
SECRET_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "BACKUP_PASSPHRASE",
)

PERMISSIONS_YAML = """\
roles:
  viewer:
    allow: [conferences, participants]
  admin:
    allow: ["*"]
assign:
  admin: [U0ADMIN01]
  viewer: ["*", "@av-team"]
"""


class Report:
    """What `pexbot check` printed, and its exit code."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        self.lines = text.splitlines()

    def line(self, name: str) -> str:
        """The line of the check called `name`, e.g. '✔ database: sqlite:///…'."""
        found = [line for line in self.lines if line[2:].startswith(f"{name}: ")]
        assert len(found) == 1, f"one line for {name!r} expected in:\n{self.text}"
        return found[0]

    def warnings(self) -> list[str]:
        return [line.strip() for line in self.lines if line.strip().startswith("⚠")]


def check() -> Report:
    out = io.StringIO()
    code = run_check(console=Console(file=out, width=80, color_system=None))
    return Report(code, out.getvalue())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def deployment(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    tls_simulator: SimulatorHandle,
    slack_api: SlackStandIn,
) -> dict[str, str]:
    """A complete, healthy deployment in HTTP mode with nightly backups; returns its env."""
    permissions = tmp_path / "permissions.yaml"
    permissions.write_text(PERMISSIONS_YAML)
    downloads = tmp_path / "backups"
    downloads.mkdir()
    env = {
        "PEXIP_MANAGER_URL": tls_simulator.url,
        "PEXIP_USERNAME": tls_simulator.username,
        "PEXIP_PASSWORD": tls_simulator.password,
        "PEXIP_CA_BUNDLE": str(tls_simulator.ca_bundle),
        "SLACK_BOT_TOKEN": slack_api.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api.url,
        "PERMISSIONS_FILE": str(permissions),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'pexbot.db'}",
        "BACKUP_PASSPHRASE": PASSPHRASE,
        "BACKUP_CHANNEL": "C0BACKUPS",
        "BACKUP_TIMEZONE": "Europe/London",
        "BACKUP_DOWNLOAD_DIR": str(downloads),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def assert_no_secrets(report: Report, *extra: str) -> None:
    """No secret variable's value is printed. (PEXIP_PASSWORD is the simulator's "admin", which
    is also the user name, so tests that care set a distinct wrong one and pass it in `extra`.)"""
    secrets = [os.environ.get(name) for name in SECRET_VARIABLES]
    for secret in [*secrets, *extra]:
        assert not secret or secret not in report.text


# --- everything fine -----------------------------------------------------------------------


def test_a_healthy_deployment_passes_every_check(
    deployment: dict[str, str], tls_simulator: SimulatorHandle
) -> None:
    report = check()

    assert report.code == 0
    for name in NAMES:
        assert report.line(name).startswith("✔ ")
    assert report.line("configuration") == (
        "✔ configuration: complete; HTTP mode on PORT 3000 (SLACK_SIGNING_SECRET)"
    )
    assert "permissions.yaml: 2 roles, 3 assignments; commands accepted in any channel" in (
        report.line("permissions file")
    )
    assert "connected, audit log table ready" in report.line("database")
    node = report.line("management node")
    assert node.startswith(f"✔ management node: {tls_simulator.url}: Pexip Infinity ")
    assert "API account admin accepted" in node
    assert "conferences running" in node
    assert report.line("Slack") == (
        "✔ Slack: workspace Pexbot Test (T0TEST001) as @pexbot (U0BOT0001); "
        f"all {len(REQUIRED_SCOPES)} scopes granted; HTTP mode"
    )
    assert "next run " in report.line("backups")
    assert "(Europe/London, '0 2 * * *'), notifying C0BACKUPS" in report.line("backups")
    assert report.warnings() == []
    assert report.lines[-1] == "All checks passed."
    assert_no_secrets(report)


def test_with_ops_channel_a_line_says_where_and_how_often_health_is_polled(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_CHANNEL", "C0OPS0001")
    monkeypatch.setenv("HEALTH_POLL_SECONDS", "120")
    report = check()

    assert report.code == 0
    assert report.line("health alerts") == (
        "✔ health alerts: pexbot clock reads alarms, licences and conferencing nodes every "
        "120 s and posts changes to C0OPS0001; licences alert at 80%"
    )


def test_without_ops_channel_there_is_no_health_line(deployment: dict[str, str]) -> None:
    assert "health alerts" not in check().text


def test_socket_mode_is_named_and_its_app_token_checked(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, slack_api: SlackStandIn
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    monkeypatch.setenv("SLACK_APP_TOKEN", slack_api.state.app_token)

    report = check()

    assert report.code == 0
    assert report.line("configuration") == (
        "✔ configuration: complete; Socket Mode (SLACK_APP_TOKEN)"
    )
    assert report.line("Slack").endswith("; Socket Mode (SLACK_APP_TOKEN accepted)")
    assert len(slack_api.state.calls("apps.connections.open")) == 1
    assert_no_secrets(report)


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked", "account_inactive"])
def test_an_app_token_slack_refuses_fails_the_slack_check_naming_it(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, slack_api: SlackStandIn, code: str
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    if code != "invalid_auth":  # the stand-in refuses APP_TOKEN itself as invalid_auth
        slack_api.state.fail("apps.connections.open", error=code)

    report = check()

    assert report.code == 1
    assert report.line("Slack") == (
        f"✘ Slack: Slack refused SLACK_APP_TOKEN ({code}): create an app-level token with "
        "connections:write under Basic Information → App-Level Tokens"
    )
    assert_no_secrets(report)


def test_an_app_token_of_the_wrong_kind_is_refused(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-not-an-app-token")

    report = check()

    assert report.code == 1
    assert report.line("Slack") == (
        "✘ Slack: SLACK_APP_TOKEN is not an app-level token (xapp-…, with connections:write)"
    )


# --- configuration -------------------------------------------------------------------------


def test_each_missing_variable_is_named_and_dependent_checks_skipped(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PEXIP_USERNAME", "PEXIP_PASSWORD", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name)

    report = check()

    assert report.code == 1
    config = report.line("configuration")
    assert config.startswith("✘ configuration: ")
    for name in ("PEXIP_USERNAME", "PEXIP_PASSWORD", "SLACK_BOT_TOKEN"):
        assert name in config
    assert report.line("management node") == "✘ management node: skipped (configuration invalid)"
    assert report.line("Slack") == "✘ Slack: skipped (configuration invalid)"
    assert report.line("permissions file").startswith("✔ ")
    assert report.line("database").startswith("✔ ")
    assert report.lines[-1] == "3 of 7 checks failed."
    assert_no_secrets(report)


def test_neither_signing_secret_nor_app_token_says_which_to_set(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")

    report = check()

    assert report.code == 1
    assert report.line("configuration") == (
        "✘ configuration: SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode) "
        "must be set"
    )


def test_an_unknown_backup_timezone_fails_the_configuration(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_TIMEZONE", "Mars/Olympus_Mons")

    report = check()

    assert report.code == 1
    assert "BACKUP_TIMEZONE" in report.line("configuration")
    assert "Mars/Olympus_Mons" in report.line("configuration")
    for name in NAMES[1:]:
        assert report.line(name) == f"✘ {name}: skipped (configuration invalid)"
    assert_no_secrets(report)


# --- permissions file ----------------------------------------------------------------------


def test_a_bad_permissions_file_is_named_with_its_line(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "perms.yaml"
    bad.write_text("roles:\n  viewer:\n    allow: [conferences, mutte]\n")
    monkeypatch.setenv("PERMISSIONS_FILE", str(bad))

    report = check()

    assert report.code == 1
    line = report.line("permissions file")
    assert line.startswith(f"✘ permissions file: {bad} line 3: ")
    assert "mutte" in line
    assert report.line("management node").startswith("✔ ")


def test_a_missing_permissions_file_is_named(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PERMISSIONS_FILE", str(tmp_path / "nowhere.yaml"))

    report = check()

    assert report.code == 1
    assert report.line("permissions file").startswith(
        f"✘ permissions file: {tmp_path / 'nowhere.yaml'}: cannot read the permissions file"
    )


# --- database ------------------------------------------------------------------------------


def test_an_unreachable_database_fails_without_showing_its_password(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://pexbot:db-pass-93ab@127.0.0.1:{port}/pexbot")

    report = check()

    assert report.code == 1
    line = report.line("database")
    assert line.startswith("✘ database: the audit log at postgresql+psycopg://pexbot:***@127.0.0.1")
    assert "could not be read" in line
    assert_no_secrets(report, "db-pass-93ab")


def test_a_database_where_no_file_can_be_made_fails(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{blocker}/audit/pexbot.db")

    report = check()

    assert report.code == 1
    assert report.line("database").startswith("✘ database: ")


def test_a_database_url_that_is_not_one_is_named(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "pexbot.db")

    report = check()

    assert report.line("database").startswith("✘ database: DATABASE_URL: not a database URL")


# --- management node -----------------------------------------------------------------------


def test_a_node_that_is_down_fails(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("PEXIP_MANAGER_URL", url)

    report = check()

    assert report.code == 1
    assert report.line("management node") == (
        f"✘ management node: {url}: The management node could not be reached, "
        "so nothing was sent. Try again shortly."
    )


def test_a_wrong_pexip_password_is_reported_without_echoing_it(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEXIP_PASSWORD", "wrong-pass-5e7b")

    report = check()

    assert report.code == 1
    line = report.line("management node")
    assert line.startswith("✘ management node: ")
    assert "refused pexbot's API account" in line
    assert "PEXIP_USERNAME and PEXIP_PASSWORD" in line
    assert_no_secrets(report, "wrong-pass-5e7b")


def test_an_untrusted_certificate_says_to_set_the_ca_bundle(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEXIP_CA_BUNDLE")

    report = check()

    assert report.code == 1
    line = report.line("management node")
    assert "does not trust the management node's certificate" in line
    assert "PEXIP_CA_BUNDLE" in line


def test_a_certificate_for_other_names_names_them_and_not_the_ca_bundle(
    deployment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    misnamed_tls_simulator: SimulatorHandle,
) -> None:
    monkeypatch.setenv("PEXIP_MANAGER_URL", misnamed_tls_simulator.url)
    monkeypatch.setenv("PEXIP_CA_BUNDLE", str(misnamed_tls_simulator.ca_bundle))

    report = check()

    assert report.code == 1
    line = report.line("management node")
    assert "certificate is not for the name pexbot connects to" in line
    assert "the certificate is for pexip-mgr.example.com, 10.9.8.7" in line
    assert "PEXIP_CA_BUNDLE" not in line


def test_a_ca_bundle_that_is_not_pem_is_named(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    monkeypatch.setenv("PEXIP_CA_BUNDLE", str(junk))

    report = check()

    assert report.code == 1
    assert report.line("management node").startswith(
        f"✘ management node: PEXIP_CA_BUNDLE {junk}: not usable"
    )


def test_tls_verification_off_passes_with_a_warning(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEXIP_CA_BUNDLE")
    monkeypatch.setenv("PEXIP_VERIFY_TLS", "false")

    report = check()

    assert report.code == 0
    assert report.line("management node").startswith("✔ ")
    [warning] = report.warnings()
    assert warning.startswith("⚠ management node: PEXIP_VERIFY_TLS=false")
    assert "insecure" in warning


def test_plain_http_to_the_node_passes_with_a_warning(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, simulator: SimulatorHandle
) -> None:
    monkeypatch.setenv("PEXIP_MANAGER_URL", simulator.url)

    report = check()

    assert report.code == 0
    [warning] = report.warnings()
    assert warning.startswith("⚠ management node: PEXIP_MANAGER_URL uses plain http")


# --- Slack ---------------------------------------------------------------------------------


def test_an_invalid_slack_token_is_refused(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1111-revoked-token-value")

    report = check()

    assert report.code == 1
    assert report.line("Slack") == (
        "✘ Slack: Slack refused SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth Token "
        "from the app's OAuth & Permissions page"
    )
    assert_no_secrets(report, "revoked-token-value")


def test_a_user_token_instead_of_a_bot_token_is_refused(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-1111-user-token-value")

    report = check()

    assert report.line("Slack") == (
        "✘ Slack: SLACK_BOT_TOKEN is not a bot token: use the Bot User OAuth Token (xoxb-…)"
    )
    assert_no_secrets(report, "user-token-value")


def test_a_missing_slack_scope_is_named(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, slack_api: SlackStandIn
) -> None:
    granted = tuple(scope for scope in DEFAULT_SCOPES if scope != "usergroups:read")
    monkeypatch.setattr(slack_api.state, "scopes", granted)

    report = check()

    assert report.code == 1
    line = report.line("Slack")
    assert line.startswith("✘ Slack: workspace Pexbot Test (T0TEST001) as @pexbot (U0BOT0001), ")
    assert "lacks the scopes usergroups:read:" in line


def test_slack_unreachable_fails(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/"
    monkeypatch.setenv("SLACK_API_URL", url)

    report = check()

    assert report.code == 1
    assert report.line("Slack").startswith(f"✘ Slack: {url}: not reachable (")


# --- backups -------------------------------------------------------------------------------


def test_backups_not_configured_pass_and_say_so(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BACKUP_PASSPHRASE")
    monkeypatch.delenv("BACKUP_CHANNEL")

    report = check()

    assert report.code == 0
    assert report.line("backups") == (
        "✔ backups: not configured (set BACKUP_PASSPHRASE and BACKUP_CHANNEL to enable them)"
    )


def test_backup_problems_are_each_named(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BACKUP_PASSPHRASE")
    monkeypatch.setenv("BACKUP_DOWNLOAD_DIR", str(tmp_path / "missing"))

    report = check()

    assert report.code == 1
    assert report.line("backups") == (
        "✘ backups: BACKUP_PASSPHRASE must be set to make backups; "
        f"BACKUP_DOWNLOAD_DIR {tmp_path / 'missing'}: no such folder"
    )


def test_an_impossible_schedule_fails(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_SCHEDULE", "0 25 * * *")

    report = check()

    assert report.code == 1
    assert report.line("configuration").startswith("✘ configuration: BACKUP_SCHEDULE:")
    assert "higher than the maximum value (23)" in report.line("configuration")


def test_the_next_run_is_given_in_the_backup_timezone() -> None:
    july = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

    when = next_backup("0 2 * * *", "Europe/London", now=july)

    assert f"{when:%Y-%m-%d %H:%M %Z}" == "2026-07-02 02:00 BST"


def test_weekday_zero_is_sunday_as_in_cron() -> None:
    settings = Settings.load(
        backup_passphrase="p" * 12, backup_channel="C0BACKUPS", backup_schedule="0 2 * * 0"
    )

    result = check_backups(settings, now=datetime(2026, 11, 18, tzinfo=UTC))

    assert result.ok
    assert "next run 2026-11-22 02:00 UTC" in result.detail  # a Sunday
    assert result.warnings == ()


# --- no traceback, ever --------------------------------------------------------------------


def test_an_unexpected_error_in_a_check_is_one_line(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("bot.check.status.primary_management_node", broken)

    report = check()

    assert report.code == 1
    assert report.line("management node") == (
        "✘ management node: unexpected error (RuntimeError); please report it"
    )
    assert "Traceback" not in report.text


# --- clock ---------------------------------------------------------------------------------


def test_on_sqlite_the_clock_line_says_one_clock_acts(deployment: dict[str, str]) -> None:
    assert report_line_after_check("clock").startswith("✔ clock: SQLite: one pexbot clock")


@pytest.mark.postgres
def test_on_postgres_the_clock_line_names_the_leader_and_those_waiting(
    deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from bot.coordination.sessions import Namespace, conninfo

    url = os.environ.get("PEXBOT_TEST_POSTGRES_URL")
    if not url:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    monkeypatch.setenv("DATABASE_URL", url)
    lock = f"SELECT pg_advisory_lock({Namespace.CLOCK_LEADER}, 0)"

    report = check()
    assert report.line("clock") == "✔ clock: no pexbot clock is running on this database"
    assert "⚠ clock: scheduled backups run only while a pexbot clock runs" in report.warnings()

    with psycopg.connect(conninfo(url), application_name="pexbot clock host-a pid 7") as leader:
        leader.execute(lock)
        report = check()
    line = report.line("clock")
    assert line.startswith("✔ clock: pexbot clock host-a pid 7 leads since 20")
    assert "waiting" not in line
    assert report.code == 0


def report_line_after_check(name: str) -> str:
    return check().line(name)
