"""Settings: every environment variable of INTERFACE §2, read once and validated.

Each process needs a different subset (the simulator needs none, `serve` needs Slack and Pexip,
`clock` needs the backup settings), so the fields are optional here and each command asks for
the group it needs with `pexip()`, `slack()` or `backup()`. A missing or invalid value becomes a
`ConfigError` whose message names the variable; `bot.__main__` prints it as one line.
Secrets are `SecretStr`: their repr and str are masked.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,}$")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the variable or file."""


class PexipSettings(BaseModel):
    """What the management-node client needs, all present."""

    model_config = ConfigDict(frozen=True)

    manager_url: str
    username: str
    password: SecretStr
    verify_tls: bool = True
    ca_bundle: Path | None = None
    timeout: float = 10.0
    max_concurrency: int = 1


class SlackSettings(BaseModel):
    """What the Slack app needs, all present."""

    model_config = ConfigDict(frozen=True)

    bot_token: SecretStr
    signing_secret: SecretStr | None
    app_token: SecretStr | None
    api_url: str
    command: str
    port: int
    allowed_teams: frozenset[str] | None = None
    """SLACK_ALLOWED_TEAMS; None: the bot token's own team (and enterprise), from auth.test."""

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None


class BackupSettings(BaseModel):
    """What the nightly backup job needs, all present."""

    model_config = ConfigDict(frozen=True)

    passphrase: SecretStr
    channel: str | None
    schedule: str
    timezone: str
    keep: int
    download_dir: Path | None
    wait_seconds: float
    now_cooldown: timedelta = timedelta(minutes=10)


class EventSettings(BaseModel):
    """Basic credentials the node's event sink presents at POST /pexip/events."""

    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr


def _blank_is_unset(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class Settings(BaseSettings):
    """Every variable of INTERFACE §2; `.env` in the working directory is read too."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")
    slack_allowed_teams: str | None = None
    slack_command: str = "/pexip"
    port: Annotated[int, Field(ge=1, le=65535)] = 3000

    pexip_manager_url: AnyHttpUrl | None = None
    pexip_username: str | None = None
    pexip_password: SecretStr | None = None
    pexip_verify_tls: bool = True
    pexip_ca_bundle: Path | None = None
    pexip_timeout: Annotated[float, Field(gt=0, le=600)] = 10.0
    pexip_max_concurrency: Annotated[int, Field(ge=1, le=64)] = 1
    pexip_default_location: str | None = None

    permissions_file: Path = Path("permissions.yaml")
    database_url: str = "sqlite:///pexbot.db"
    audit_channel: str | None = None

    backup_schedule: str = "0 2 * * *"
    backup_timezone: str = "UTC"
    backup_passphrase: SecretStr | None = None
    backup_channel: str | None = None
    backup_keep: Annotated[int, Field(ge=1, le=1000)] = 7
    backup_download_dir: Path | None = None
    backup_wait_seconds: Annotated[float, Field(gt=0, le=86400)] = 600.0
    backup_now_cooldown: timedelta = timedelta(minutes=10)

    ops_channel: str | None = None
    license_alert_percent: Annotated[int, Field(ge=1, le=100)] = 80
    health_poll_seconds: Annotated[int, Field(ge=10, le=86400)] = 60
    public_url: AnyHttpUrl | None = None
    pexip_events_username: str | None = None
    pexip_events_password: SecretStr | None = None

    log_level: str = "INFO"

    _blank = field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_allowed_teams",
        "pexip_manager_url",
        "pexip_username",
        "pexip_password",
        "pexip_ca_bundle",
        "pexip_default_location",
        "audit_channel",
        "backup_passphrase",
        "backup_channel",
        "backup_download_dir",
        "ops_channel",
        "public_url",
        "pexip_events_username",
        "pexip_events_password",
        mode="before",
    )(_blank_is_unset)

    @field_validator("slack_command")
    @classmethod
    def _command_starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/") or len(value) < 2 or " " in value:
            raise ValueError("must be a slash command such as /pexip")
        return value

    @field_validator("slack_allowed_teams")
    @classmethod
    def _team_ids(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for team in (part.strip() for part in value.split(",")):
            if not _TEAM_ID.match(team):
                raise ValueError(
                    f"{team!r} is not a Slack team ID (T…) or enterprise ID (E…); "
                    "separate several with commas"
                )
        return value

    @field_validator("pexip_manager_url")
    @classmethod
    def _manager_url_has_no_path(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and value.path not in (None, "", "/"):
            raise ValueError(
                "must be the node's address with no path, e.g. https://manager.example.com"
            )
        return value

    @field_validator("backup_now_cooldown", mode="before")
    @classmethod
    def _cooldown_is_a_duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("backup_schedule")
    @classmethod
    def _schedule_is_cron(cls, value: str) -> str:
        from bot.backup.cron import cron_trigger

        cron_trigger(value, "UTC")  # ValueError says what is wrong
        return value

    @field_validator("backup_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}, e.g. Europe/London") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.upper() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.upper()

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read the environment (and `.env`); a bad value becomes a ConfigError naming it."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None

    def pexip(self) -> PexipSettings:
        self._require("pexip_manager_url", "pexip_username", "pexip_password")
        if self.pexip_ca_bundle is not None and not self.pexip_ca_bundle.is_file():
            raise ConfigError(f"PEXIP_CA_BUNDLE: no such file {self.pexip_ca_bundle}")
        return PexipSettings(
            manager_url=str(self.pexip_manager_url).rstrip("/"),
            username=self.pexip_username or "",
            password=self.pexip_password or SecretStr(""),
            verify_tls=self.pexip_verify_tls,
            ca_bundle=self.pexip_ca_bundle,
            timeout=self.pexip_timeout,
            max_concurrency=self.pexip_max_concurrency,
        )

    def slack(self) -> SlackSettings:
        self._require("slack_bot_token")
        if self.slack_signing_secret is None and self.slack_app_token is None:
            raise ConfigError(
                "SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode) must be set"
            )
        return SlackSettings(
            bot_token=self.slack_bot_token or SecretStr(""),
            signing_secret=self.slack_signing_secret,
            app_token=self.slack_app_token,
            api_url=str(self.slack_api_url),
            command=self.slack_command,
            port=self.port,
            allowed_teams=(
                frozenset(team.strip() for team in self.slack_allowed_teams.split(","))
                if self.slack_allowed_teams
                else None
            ),
        )

    def events(self) -> EventSettings | None:
        """The event sink's credentials (INTERFACE §8), or None: live events are off."""
        if self.pexip_events_username is None and self.pexip_events_password is None:
            return None
        self._require("pexip_events_username", "pexip_events_password")
        assert self.pexip_events_username is not None and self.pexip_events_password is not None
        return EventSettings(
            username=self.pexip_events_username, password=self.pexip_events_password
        )

    def backup(self) -> BackupSettings:
        self._require("backup_passphrase")
        return BackupSettings(
            passphrase=self.backup_passphrase or SecretStr(""),
            channel=self.backup_channel,
            schedule=self.backup_schedule,
            timezone=self.backup_timezone,
            keep=self.backup_keep,
            download_dir=self.backup_download_dir,
            wait_seconds=self.backup_wait_seconds,
            now_cooldown=self.backup_now_cooldown,
        )

    def _require(self, *names: str) -> None:
        missing = [name.upper() for name in names if getattr(self, name) is None]
        if missing:
            raise ConfigError(f"{', '.join(missing)} must be set (see .env.example)")


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smh]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> timedelta:
    """`10m`, `30s`, `1h`, or a number of seconds; `0` is none."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write e.g. 10m, 30s, 1h, or 0 for none")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > 7 * 86400:
        raise ValueError(f"{text!r} is longer than a week")
    return timedelta(seconds=seconds)


def transport_warnings(pexip: PexipSettings) -> list[str]:
    """What is insecure about the way to the management node, in the operator's words."""
    if pexip.manager_url.startswith("http://"):
        return [
            "PEXIP_MANAGER_URL uses plain http: the API password and every command cross the "
            "network in clear (insecure); use https"
        ]
    if not pexip.verify_tls:
        return [
            "PEXIP_VERIFY_TLS=false: the node's certificate is not verified (insecure: anyone "
            "on the network path could read the API password); set PEXIP_CA_BUNDLE instead"
        ]
    return []


def warn_about_transport(pexip: PexipSettings) -> None:
    """Logged at every start of `serve` and `clock`, so the risk is never silent."""
    for warning in transport_warnings(pexip):
        log.warning("%s", warning)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad variable, named as the user spells it, without echoing secret input."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]).upper() or "configuration"
        lines.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO; that is noise for operators.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # slack_sdk's webhook client logs each response URL it posts to at DEBUG: a capability to
    # post as the bot in that conversation, which must never reach a log.
    logging.getLogger("slack_sdk.webhook").setLevel(max(logging.INFO, logging.getLevelName(level)))
