"""The demo's node-health lines: change the simulated node, then run one health poll as the
clock would, so the alerts appear in #ops (and are edited there when they clear).

    :alarm <name>                 raise an alarm
    :clear                        clear the newest alarm
    :licence <kind> <in use>      e.g. `:licence port 90` (of 100)
    :maintenance <node id> on|off e.g. `:maintenance 2 on`
    :sync <node id> <state>       e.g. `:sync 3 SYNC_FAILED`, then `:sync 3 SYNCED`
    :poll                         poll once more
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.config import Settings
from bot.health.poll import poll_once
from bot.health.store import AlertStore
from bot.sandbox.simulator import SimulatorControl
from bot.slack.client import slack_client

WORDS = (":alarm", ":clear", ":licence", ":maintenance", ":sync", ":poll")
USAGE = __doc__.split("\n\n", 1)[1] if __doc__ else ""


@dataclass
class HealthDemo:
    settings: Settings
    control: SimulatorControl
    raised: list[int] = field(default_factory=list)

    def handle(self, word: str, rest: str) -> str | None:
        """Carry out one line and poll; a usage message when it cannot be read."""
        args = rest.split()
        try:
            self._change(word, args)
        except (ValueError, IndexError):
            return f"Try:\n{USAGE}"
        asyncio.run(self._poll())
        return None

    def _change(self, word: str, args: list[str]) -> None:
        if word == ":alarm":
            name = " ".join(args) or "Conferencing node lost contact"
            self.raised.append(self.control.raise_alarm(name, level="error", node="10.0.1.11"))
        elif word == ":clear":
            self.control.clear_alarm(self.raised.pop())
        elif word == ":licence":
            self.control.set_licences(**{f"{args[0]}_count": int(args[1])})
        elif word == ":maintenance":
            on = args[1].lower() in ("on", "yes", "true")
            reason = "maintenance from the demo" if on else None
            self.control.set_worker(
                int(args[0]), maintenance_mode=on, maintenance_mode_reason=reason
            )
        elif word == ":sync":
            self.control.set_worker(int(args[0]), sync_status=args[1])

    async def _poll(self) -> None:
        store = AlertStore(self.settings.database_url)
        web = slack_client(
            self.settings.slack_bot_token.get_secret_value()
            if self.settings.slack_bot_token
            else None,
            str(self.settings.slack_api_url),
        )
        try:
            await poll_once(self.settings, store, web)
        finally:
            store.close()
