"""The reliability suite's stack: the bot with recognisable secrets, watched for leaks, and the
tally of what the suite tried, printed at the end of the run.

Every test here talks to a management-node simulator whose API password is a secret of its own
and to a Slack stand-in whose bot token is one too; the bot signs with its own signing secret and
holds a backup passphrase. `SecretWatch` looks for those values (and the Basic credentials the
node receives) everywhere they must never appear:

- every log record of the bot and the libraries it runs on (`WATCHED_LOGGERS`, at DEBUG),
  formatted with its traceback, and the str and repr of every exception a record carries and of
  those it was raised from: the texts of the exceptions raised;
- every call the Slack stand-in received (all parameters) and every HTTP answer the bot gave;
- every audit row of every bot the suite started.

The log watch is a handler on those loggers for as long as the suite runs rather than caplog,
which sees one test at a time: background work (a dialled call being followed, a retry) logs
after the test that started it has ended, and that is searched too. A leak fails the test during
which it was found; the figures go to the summary printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Runtime, build_runtime
from bot.config import Settings
from bot.sandbox.serve import BackgroundServer
from bot.sandbox.simulator import SimulatorControl, create_app
from bot.sandbox.slack_api import SlackStandIn, SlackState
from bot.slack.server import http_app
from bot.store.audit import AuditEntry, AuditStore
from tests.e2e.conftest import Seen
from tests.fixtures.bot import POLICY, TEAM, SlackClient
from tests.fixtures.simulator import SimulatorHandle

PEXIP_USER = "pexbot-reliability"
SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-7007-RELIABILITY-bot-token-4f1c9e",
    "SLACK_SIGNING_SECRET": "RELIABILITY-signing-secret-8d2b61",
    "PEXIP_PASSWORD": "RELIABILITY-pexip-password-a93e07",
    "BACKUP_PASSPHRASE": "RELIABILITY-backup-passphrase-5c7d",
}
# What the node receives in each request's Authorization header must never be shown either.
BASIC_CREDENTIALS = base64.b64encode(f"{PEXIP_USER}:{SECRETS['PEXIP_PASSWORD']}".encode()).decode()
WATCHED_LOGGERS = (
    "bot",
    "handlers",
    "slack_bolt",
    "slack_sdk",
    "httpx",
    "asyncio",
    "uvicorn",
)


# --- the tally -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the suite tried, for the summary at the end of the run."""

    faults_tried: int = 0
    requests_forged: int = 0
    inputs_fuzzed: int = 0
    matrix_cells: int = 0
    burst_size: int = 0
    outcomes_lost: int = 0
    secrets_found: int = 0
    scanned: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    used: bool = False

    def __repr__(self) -> str:  # as hypothesis shows it with a failing example
        return f"Tally({self.figures()})"

    def figures(self) -> str:
        return (
            f"faults tried {self.faults_tried} · requests forged {self.requests_forged} · "
            f"inputs fuzzed {self.inputs_fuzzed} · matrix cells {self.matrix_cells} · "
            f"burst size {self.burst_size} · outcomes lost {self.outcomes_lost} · "
            f"secrets found {self.secrets_found}"
        )


TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    TALLY.used = True
    return TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.used:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "reliability summary")
    write(TALLY.figures())
    if TALLY.scanned:
        places = ", ".join(f"{count} {place}" for place, count in sorted(TALLY.scanned.items()))
        write(f"searched for secrets: {places}")
    for note in TALLY.notes:
        write(note)


# --- watching for secrets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Leak:
    secret: str
    where: str
    excerpt: str


class SecretWatch(logging.Handler):
    """Searches text for the secret values; as a log handler, every record it is given."""

    def __init__(self, secrets: dict[str, str]) -> None:
        super().__init__(logging.DEBUG)
        self.secrets = secrets
        self.leaks: list[Leak] = []
        self.errors: list[str] = []  # ERROR records, for tests that expect none
        self._formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    def scan(self, where: str, text: str) -> None:
        TALLY.scanned[where] += 1
        for name, value in self.secrets.items():
            at = text.find(value)
            if at >= 0:
                excerpt = text[max(0, at - 80) : at + len(value) + 40]
                self.leaks.append(Leak(name, where, excerpt))
                TALLY.secrets_found += 1

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self._formatter.format(record)
        except Exception:  # a record that cannot be formatted still has its parts searched
            text = f"{record.msg!r} {record.args!r}"
        self.scan("log records", text)
        if record.exc_info and record.exc_info[1] is not None:
            self.scan("exception texts", _exception_texts(record.exc_info[1]))
        if record.levelno >= logging.ERROR:
            self.errors.append(text)

    @contextmanager
    def attached(self) -> Iterator[None]:
        loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.removeHandler(self)
                logger.setLevel(level)

    @contextmanager
    def quietly(self) -> Iterator[None]:
        """Records still searched, but not also kept by pytest's capture (for the load test,
        whose memory figure must be the bot's, not pytest's copies of its logs)."""
        loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
        for logger in loggers:
            logger.propagate = False
        try:
            yield
        finally:
            for logger in loggers:
                logger.propagate = True


def _exception_texts(exc: BaseException) -> str:
    """str and repr of an exception and of everything it was raised from or during."""
    texts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


@dataclass
class Stack:
    """The suite's private management node and Slack stand-in, and the watch over them."""

    node: SimulatorHandle
    slack: SlackStandIn
    watch: SecretWatch

    def scan_slack(self) -> None:
        """Search every call the stand-in received since its last reset."""
        for call in self.slack.state.calls():
            self.watch.scan("Slack calls", json.dumps(call.params, default=str))

    def fresh_slack(self) -> None:
        self.scan_slack()
        self.slack.state.reset()

    def fresh_node(self) -> None:
        settle(self.node)
        self.node.control.reset()

    def scan_audit(self, database_url: str) -> None:
        for entry in read_audit(database_url, limit=1_000_000):
            self.watch.scan("audit rows", json.dumps(entry.as_json()))


def settle(node: SimulatorHandle, timeout: float = 5.0) -> None:
    """Wait until the node has answered everything it was sent (a slow fault included)."""
    deadline = time.monotonic() + timeout
    while node.control.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)


def read_audit(database_url: str, limit: int = 500) -> list[AuditEntry]:
    store = AuditStore(database_url)
    try:
        return asyncio.run(store.recent(limit))
    finally:
        store.close()


@pytest.fixture(scope="package")
def stack(tally: Tally) -> Iterator[Stack]:
    """For the tests of this folder only: the watch, and the DEBUG level it sets, end with them."""
    watch = SecretWatch(SECRETS | {"PEXIP_PASSWORD as Basic credentials": BASIC_CREDENTIALS})
    app = create_app(
        username=PEXIP_USER,
        password=SECRETS["PEXIP_PASSWORD"],
        passphrase=SECRETS["BACKUP_PASSPHRASE"],
    )
    slack_state = SlackState(bot_token=SECRETS["SLACK_BOT_TOKEN"])
    with ExitStack() as resources:
        resources.enter_context(watch.attached())
        server = resources.enter_context(BackgroundServer(app))
        control = resources.enter_context(SimulatorControl(server.url))
        slack = resources.enter_context(SlackStandIn(slack_state))
        node = SimulatorHandle(server.url, PEXIP_USER, SECRETS["PEXIP_PASSWORD"], control)
        running = Stack(node, slack, watch)
        yield running
        running.scan_slack()
    assert watch.leaks == [], f"secrets leaked between tests: {watch.leaks}"


@pytest.fixture(autouse=True)
def _no_secret_leaks(stack: Stack) -> Iterator[None]:
    """Fails the test during which a secret appeared anywhere the watch looks."""
    before = len(stack.watch.leaks)
    yield
    stack.scan_slack()
    leaks = stack.watch.leaks[before:]
    assert leaks == [], f"secret values leaked: {leaks}"


@pytest.fixture
def simulator(stack: Stack) -> SimulatorHandle:
    """The private management node, freshly reset (seed data, no faults, zero counters)."""
    stack.fresh_node()
    return stack.node


@pytest.fixture
def slack_api(stack: Stack) -> SlackStandIn:
    """The private Slack stand-in, its calls searched for secrets, then forgotten."""
    stack.fresh_slack()
    return stack.slack


class Watching(Seen):
    """`Seen`, looking every 5 ms: the matrix and the fuzzing wait for hundreds of answers."""

    def wait(self, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.state.messages():
                if predicate(message):
                    return message
            time.sleep(0.005)
        return super().wait(predicate, 0)  # raises, showing what Slack saw


@pytest.fixture
def seen(slack_api: SlackStandIn) -> Seen:
    return Watching(slack_api)


# --- the bot -----------------------------------------------------------------------------------


class WatchedSlack:
    """The stories' signed-request client (`tests.fixtures.bot.SlackClient`); every answer the
    bot gives is searched for secrets."""

    def __init__(self, client: SlackClient, watch: SecretWatch) -> None:
        self._client = client
        self._watch = watch

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if isinstance(result, httpx.Response):
                self._watch.scan("HTTP answers", result.text)
            return result

        return call


@dataclass
class SecretBot:
    """The bot's HTTP app on a real port, built exactly as `pexbot serve` builds it."""

    url: str
    slack: Any  # a WatchedSlack: SlackClient's methods, answers searched
    settings: Settings
    runtime: Runtime
    watch: SecretWatch

    def healthz(self) -> int:
        return httpx.get(self.url + "/healthz", timeout=5).status_code

    def post_raw(self, body: str | bytes, headers: dict[str, Any]) -> httpx.Response:
        """A request as whoever sends it, signed or not."""
        response = httpx.post(self.url + "/slack/events", content=body, headers=headers, timeout=10)
        self.watch.scan("HTTP answers", response.text)
        return response

    def audit(self, limit: int = 500) -> list[AuditEntry]:
        """The audit log, newest first."""
        return read_audit(self.settings.database_url, limit)


def secret_environment(stack: Stack, folder: Path, policy: str) -> dict[str, str]:
    policy_file = folder / "permissions.yaml"
    policy_file.write_text(policy)
    return {
        "SLACK_BOT_TOKEN": SECRETS["SLACK_BOT_TOKEN"],
        "SLACK_SIGNING_SECRET": SECRETS["SLACK_SIGNING_SECRET"],
        "SLACK_API_URL": stack.slack.url,
        "PEXIP_MANAGER_URL": stack.node.url,
        "PEXIP_USERNAME": PEXIP_USER,
        "PEXIP_PASSWORD": SECRETS["PEXIP_PASSWORD"],
        "PEXIP_DEFAULT_LOCATION": "London",
        "PERMISSIONS_FILE": str(policy_file),
        "DATABASE_URL": f"sqlite:///{folder / 'pexbot.db'}",
        "BACKUP_PASSPHRASE": SECRETS["BACKUP_PASSPHRASE"],
        "BACKUP_WAIT_SECONDS": "5",
    }


@contextmanager
def serve_secret_bot(
    stack: Stack, folder: Path, *, policy: str = POLICY, **env: str
) -> Iterator[SecretBot]:
    """`env` adds or replaces variables, e.g. PEXIP_TIMEOUT="0.5"."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (secret_environment(stack, folder, policy) | env).items():
            patch.setenv(name, value)
        settings = Settings.load()
        runtime = build_runtime(settings)
        runtime.services.follow_up_seconds = 3.0
        patch.setattr("handlers.dialling.POLL_SECONDS", 0.2)  # follow dialled calls briskly
        with BackgroundServer(http_app(runtime), lifespan="on") as server:
            client = SlackClient(
                server.url, SECRETS["SLACK_SIGNING_SECRET"], stack.slack.response_url, team=TEAM
            )
            try:
                slack = WatchedSlack(client, stack.watch)
                yield SecretBot(server.url, slack, settings, runtime, stack.watch)
            finally:
                client.close()
    stack.scan_audit(settings.database_url)


Launch = Callable[..., SecretBot]


@pytest.fixture(scope="module")
def launch(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    """Start bots that serve until the end of the module: `launch(PEXIP_TIMEOUT="0.5")`."""
    with ExitStack() as bots:

        def start(*, policy: str = POLICY, **env: str) -> SecretBot:
            folder = tmp_path_factory.mktemp("bot")
            return bots.enter_context(serve_secret_bot(stack, folder, policy=policy, **env))

        yield start


@pytest.fixture
def launch_here(stack: Stack, tmp_path: Path) -> Iterator[Launch]:
    """Start bots that serve until the end of the test."""
    with ExitStack() as bots:
        count = iter(range(1000))

        def start(*, policy: str = POLICY, **env: str) -> SecretBot:
            folder = tmp_path / f"bot{next(count)}"
            folder.mkdir()
            return bots.enter_context(serve_secret_bot(stack, folder, policy=policy, **env))

        yield start
