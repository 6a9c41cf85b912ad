"""The benchmark stack: the fixtures process, `pexbot serve`, and what drives them.

    with Stack(workdir) as stack:
        bot = stack.bot(max_concurrency=1)
        drive = await stack.drive(stack.mute_texts(100), concurrency=10)

Every command the bench sends is `mute`/`unmute` of a seeded participant, alternating per
participant, by id (one status lookup and one command at the node) or by name.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from bench.botprocess import REPO, BotConfig, BotProcess, Memory, cpu_seconds
from bench.fixtures import Fixtures, Outcome, Urls
from bench.load import Sent, Slash, no_gc_pauses, succeeded
from bench.results import CaseResult
from bot.sandbox.simulator.client import SimulatorControl

BENCH_USER = "U0BENCH01"
LIVE_CHANNEL = "C0BENCHLV"
"""Where the live-meeting messages of the `events` case go (the policy's `watch`)."""
POLICY = f"""\
roles:
  admin:
    allow: ["*"]
assign:
  admin: [{BENCH_USER}]
watch:
  - conferences: ["Bench_*"]
    channel: {LIVE_CHANNEL}
    show: [lobby, roster, started]
"""
PARTICIPANTS = "/api/admin/status/v1/participant/"
COMMANDS = "/api/admin/command/v1/participant/"
CREDENTIALS = ("admin", "admin")


@dataclass(frozen=True)
class Participant:
    id: str
    name: str


@dataclass
class Drive:
    """Commands sent and the outcome message of each (those that arrived in time)."""

    sent: list[Sent]
    outcomes: dict[str, Outcome]
    server_cpu: float | None = None
    """CPU seconds the server process used while the commands were sent and acknowledged."""

    @property
    def acks(self) -> list[float]:
        return [s.ack_seconds for s in self.sent]

    @property
    def end_to_end(self) -> list[float]:
        """Seconds from sending each command to its outcome message reaching the stand-in."""
        return [
            self.outcomes[s.channel].at - s.sent_at for s in self.sent if s.channel in self.outcomes
        ]

    @property
    def failures(self) -> int:
        """Commands with no outcome in time, or an outcome other than success."""
        return sum(
            1
            for s in self.sent
            if s.channel not in self.outcomes or not succeeded(self.outcomes[s.channel])
        )


@dataclass
class BotRecord:
    """One `pexbot serve` of the run: how fast it started and its memory when it was stopped."""

    name: str
    max_concurrency: int
    started_in: float
    commands: int = 0
    at_stop: Memory | None = None


@dataclass
class Stack:
    workdir: Path
    bot_source: Path = REPO
    fixtures: Fixtures = field(default_factory=Fixtures)
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    participants: list[Participant] = field(default_factory=list)
    history: list[BotRecord] = field(default_factory=list)
    results: dict[str, CaseResult] = field(default_factory=dict)  # the run's cases so far
    _bot: BotProcess | None = None
    _control: SimulatorControl | None = None

    @property
    def urls(self) -> Urls:
        assert self.fixtures.urls is not None
        return self.fixtures.urls

    @property
    def control(self) -> SimulatorControl:
        assert self._control is not None
        return self._control

    def start(self) -> Stack:
        self.fixtures.start()
        self._control = SimulatorControl(self.urls.simulator)
        (self.workdir / "permissions.yaml").write_text(POLICY)
        self.participants = self._participants()
        return self

    def _participants(self) -> list[Participant]:
        with httpx.Client(base_url=self.urls.simulator, auth=CREDENTIALS) as http:
            objects = http.get(PARTICIPANTS, params={"limit": 100}).raise_for_status().json()
        return [Participant(p["id"], p["display_name"]) for p in objects["objects"]]

    # --- the bot ------------------------------------------------------------------------

    def bot_config(
        self, max_concurrency: int, environment: tuple[tuple[str, str], ...] = ()
    ) -> BotConfig:
        return BotConfig(
            simulator_url=self.urls.simulator,
            slack_api_url=self.urls.slack_api,
            bot_token=self.urls.bot_token,
            signing_secret=self.secret,
            permissions_file=self.workdir / "permissions.yaml",
            database_file=self.workdir / "audit.db",
            max_concurrency=max_concurrency,
            source=self.bot_source,
            environment=environment,
        )

    def bot(self, max_concurrency: int = 1) -> BotProcess:
        """The running bot if it has this cap, else a fresh one."""
        current = self._bot
        if current and current.alive() and current.config == self.bot_config(max_concurrency):
            return current
        return self.restart_bot(max_concurrency)

    def restart_bot(
        self, max_concurrency: int = 1, environment: tuple[tuple[str, str], ...] = ()
    ) -> BotProcess:
        self.stop_bot()
        name = f"bot-{len(self.history) + 1}"
        bot = BotProcess(self.bot_config(max_concurrency, environment), self.workdir, name)
        started_in = bot.start()
        self._bot = bot
        self.history.append(BotRecord(name, max_concurrency, started_in))
        return bot

    def stop_bot(self) -> None:
        if self._bot is None:
            return
        if self._bot.alive():
            self.history[-1].at_stop = self._bot.memory()
        self._bot.stop()
        self._bot = None

    # --- commands -----------------------------------------------------------------------

    def mute_texts(
        self, count: int, *, by_name: bool = False, who: list[Participant] | None = None
    ) -> list[str]:
        """`mute`/`unmute` over `who` (every seeded participant), alternating per participant."""
        pool = who or self.participants
        texts = []
        for i in range(count):
            person = pool[i % len(pool)]
            word = ("mute", "unmute")[(i // len(pool)) % 2]
            texts.append(f'{word} "{person.name}"' if by_name else f"{word} {person.id}")
        return texts

    def slash(self, connections: int = 1) -> Slash:
        bot = self._bot
        assert bot is not None, "start the bot first: stack.bot()"
        return Slash(
            bot.url, self.secret, self.urls.slack_base, BENCH_USER, connections=connections
        )

    async def drive(
        self, texts: list[str], concurrency: int, wait_seconds: float, server: int | None = None
    ) -> Drive:
        """Send every command (bounded concurrency), then wait up to `wait_seconds` for every
        outcome message. `server`: the pid whose CPU time to measure while sending."""
        async with self.slash(concurrency) as slash:
            await slash.connect()
            with no_gc_pauses():
                before = cpu_seconds(server) if server is not None else 0.0
                sent = await slash.send_all(texts, concurrency)
                used = cpu_seconds(server) - before if server is not None else None
        channels = [s.channel for s in sent]
        outcomes = await self.fixtures.outcomes_async(channels, wait_seconds)
        self._count(len(sent))
        return Drive(sent, outcomes, used)

    async def one_by_one(self, slash: Slash, text: str, wait_seconds: float) -> Drive:
        """Send one command and wait for its outcome before returning."""
        sent = await slash.send(text)
        outcomes = await self.fixtures.outcomes_async([sent.channel], wait_seconds)
        self._count(1)
        return Drive([sent], outcomes)

    def _count(self, commands: int) -> None:
        if self.history:
            self.history[-1].commands += commands

    # --- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        self.stop_bot()
        if self._control is not None:
            self._control.close()
        self.fixtures.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
