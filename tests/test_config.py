"""Configuration as an operator meets it: variables, `.env`, one-line errors, masked secrets."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings

PEXIP_ENV = {
    "PEXIP_MANAGER_URL": "https://manager.example.com",
    "PEXIP_USERNAME": "api",
    "PEXIP_PASSWORD": "pw-Zq81-secret",
}


def test_defaults_match_the_interface() -> None:
    settings = Settings.load()
    assert str(settings.slack_api_url) == "https://slack.com/api/"
    assert settings.slack_command == "/pexip"
    assert settings.port == 3000
    assert settings.pexip_verify_tls is True
    assert settings.pexip_timeout == 10
    assert settings.pexip_max_concurrency == 1
    assert settings.permissions_file == Path("permissions.yaml")
    assert settings.database_url == "sqlite:///pexbot.db"
    assert settings.backup_schedule == "0 2 * * *"
    assert settings.backup_timezone == "UTC"
    assert settings.backup_keep == 7
    assert settings.backup_wait_seconds == 600
    assert settings.backup_now_cooldown == timedelta(minutes=10)
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("90", timedelta(seconds=90)),
    ],
)
def test_backup_now_cooldown_reads_durations(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: timedelta
) -> None:
    monkeypatch.setenv("BACKUP_NOW_COOLDOWN", text)
    assert Settings.load().backup_now_cooldown == expected


def test_a_bad_cooldown_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_NOW_COOLDOWN", "ten minutes")
    with pytest.raises(ConfigError, match="BACKUP_NOW_COOLDOWN: 'ten minutes' is not a duration"):
        Settings.load()


def test_pexip_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PEXIP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PEXIP_MAX_CONCURRENCY", "4")
    pexip = Settings.load().pexip()
    assert pexip.manager_url == "https://manager.example.com"
    assert pexip.max_concurrency == 4
    assert pexip.password.get_secret_value() == "pw-Zq81-secret"


def test_dotenv_file_is_read() -> None:
    Path(".env").write_text("PEXIP_TIMEOUT=3.5\nSLACK_COMMAND=/vc\n")
    settings = Settings.load()
    assert settings.pexip_timeout == 3.5
    assert settings.slack_command == "/vc"


def test_missing_required_variables_are_named() -> None:
    with pytest.raises(ConfigError, match="PEXIP_MANAGER_URL, PEXIP_USERNAME, PEXIP_PASSWORD"):
        Settings.load().pexip()
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        Settings.load().slack()
    with pytest.raises(ConfigError, match="BACKUP_PASSPHRASE"):
        Settings.load().backup()


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("PEXIP_TIMEOUT", "soon", "PEXIP_TIMEOUT"),
        ("PEXIP_MAX_CONCURRENCY", "0", "PEXIP_MAX_CONCURRENCY"),
        ("PEXIP_MANAGER_URL", "https://manager.example.com/admin", "no path"),
        ("PEXIP_VERIFY_TLS", "perhaps", "PEXIP_VERIFY_TLS"),
        ("BACKUP_SCHEDULE", "0 2 * *", "5 fields"),
        ("BACKUP_TIMEZONE", "Mars/Olympus", "unknown IANA time zone"),
        ("SLACK_COMMAND", "pexip", "slash command"),
        ("PORT", "70000", "PORT"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=fragment):
        Settings.load()


def test_ca_bundle_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PEXIP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PEXIP_CA_BUNDLE", "/nowhere/ca.pem")
    with pytest.raises(ConfigError, match="PEXIP_CA_BUNDLE: no such file"):
        Settings.load().pexip()


def test_secrets_never_show_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "SLACK_BOT_TOKEN": "xoxb-secret-bot-token",
        "SLACK_SIGNING_SECRET": "signing-secret-7f3a",
        "PEXIP_PASSWORD": "pw-Zq81-secret",
        "BACKUP_PASSPHRASE": "passphrase-91c2",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PEXIP_TIMEOUT", "not-a-number")
    with pytest.raises(ConfigError) as failure:
        Settings.load()
    monkeypatch.setenv("PEXIP_TIMEOUT", "5")
    settings = Settings.load()
    shown = repr(settings) + str(settings) + str(failure.value) + repr(settings.backup())
    for value in secrets.values():
        assert value not in shown


def test_cli_reports_a_bad_variable_in_one_line_without_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PEXIP_TIMEOUT": "soon", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "audit"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "PEXIP_TIMEOUT" in result.stderr
