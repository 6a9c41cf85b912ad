"""`pexbot demo`: the simulator, a Slack stand-in and the real bot, wired together locally.

Nothing is faked inside the bot: the console sends signed requests to the bot's own HTTP
endpoint, the bot calls the simulator over HTTP and posts to the Slack stand-in, and the console
shows what the stand-in received. Everything runs in this process and stops with it.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bot.app import build_runtime
from bot.config import Settings
from bot.pexip import event_sinks
from bot.pexip.client import PexipClient
from bot.sandbox.serve import BackgroundServer
from bot.sandbox.simulator import SimulatorControl, create_app
from bot.sandbox.slack_api import SlackStandIn
from bot.sandbox.slack_requests import SlackRequests
from bot.services import Services
from bot.slack.server import http_app

DEMO_POLICY = Path(__file__).with_name("demo_permissions.yaml")
CHANNEL = "C0DEMO001"
BACKUP_CHANNEL = "C0BACKUPS"
OPS_CHANNEL = "C0OPS0001"
LOCKED_ALIAS = "board@example.com"  # Board_Room: locked in the seed data


@dataclass(frozen=True)
class DemoUser:
    id: str
    name: str
    role: str


USERS = (
    DemoUser("U0ADMIN01", "Ada Admin", "admin"),
    DemoUser("U0ADMIN02", "Bea Approver", "second admin"),
    DemoUser("U0MOD0001", "Max Moderator", "moderator"),
    DemoUser("U0VMR0001", "Val VMR-moderator", "moderator of VMR_* only"),
    DemoUser("U0VIEW001", "Vic Viewer", "viewer"),
)


def find_user(text: str) -> DemoUser | None:
    """By id, role or first name, case-insensitively."""
    wanted = text.strip().casefold()
    for user in USERS:
        if wanted in (user.id.casefold(), user.role.casefold(), user.name.split()[0].casefold()):
            return user
    return None


class DemoStack:
    """Starts the three servers; `with DemoStack() as stack: stack.requests.command(...)`."""

    def __init__(self, *, follow_up_seconds: float = 8.0) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="pexbot-demo-")
        self.simulator = BackgroundServer(create_app())
        self.slack = SlackStandIn()
        self._secret = secrets.token_hex(16)
        self._follow_up = follow_up_seconds
        self.bot: BackgroundServer | None = None
        self.requests: SlackRequests | None = None
        self.services: Services | None = None

    @property
    def following_up(self) -> bool:
        return self.services is not None and self.services.following_up

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,
            slack_bot_token=self.slack.bot_token,
            slack_signing_secret=self._secret,
            slack_app_token=None,
            slack_api_url=self.slack.url,
            pexip_manager_url=self.simulator.url,
            pexip_username="admin",
            pexip_password="admin",
            pexip_default_location="London",
            permissions_file=DEMO_POLICY,
            database_url=f"sqlite:///{Path(self._folder.name) / 'demo.db'}",
            audit_channel=None,
            backup_passphrase="pexbot-demo",
            backup_channel=BACKUP_CHANNEL,
            backup_wait_seconds=30,
            ops_channel=OPS_CHANNEL,
            pexip_events_username="demo-node",
            pexip_events_password=self._secret,
            log_level="WARNING",
        )

    def start(self) -> DemoStack:
        self.simulator.start()
        self.slack.start()
        for user in USERS:
            self.slack.state.set_user(user.id, user.name.split()[0].lower(), user.name)
        self.slack.state.set_channel(CHANNEL, "demo")
        self.slack.state.set_channel(OPS_CHANNEL, "ops")
        runtime = build_runtime(self.settings())
        runtime.services.follow_up_seconds = self._follow_up
        self.services = runtime.services
        self.bot = BackgroundServer(http_app(runtime), lifespan="on").start()
        self.requests = SlackRequests(self.bot.url, self._secret, self.slack.state.response_url)
        self._register_event_sink(self.bot.url)
        return self

    def _register_event_sink(self, bot_url: str) -> None:
        """Point the simulator's event sink at the bot, as `pexbot events register` does."""
        settings = self.settings()
        events = settings.events()
        assert events is not None

        async def register() -> None:
            async with PexipClient(settings.pexip()) as client:
                url = event_sinks.events_url(bot_url)
                await event_sinks.register(client, url, events.username, events.password, [])

        asyncio.run(register())

    def guest_arrives(self, name: str, alias: str = LOCKED_ALIAS) -> str:
        """A guest calls in (into the locked Board_Room unless another alias is given)."""
        with SimulatorControl(self.simulator.url) as control:
            return control.arrive(alias, name)

    def stop(self) -> None:
        if self.requests is not None:
            self.requests.close()
        if self.bot is not None:
            self.bot.stop()
        self.slack.stop()
        self.simulator.stop()
        self._folder.cleanup()

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
