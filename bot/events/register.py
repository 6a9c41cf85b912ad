"""`pexbot events register` (INTERFACE §1): the node's event sink pointing at the bot."""

from __future__ import annotations

import asyncio
import sys

from bot.config import ConfigError, Settings, configure_logging
from bot.messages import read_failed
from bot.pexip import errors, event_sinks
from bot.pexip.client import PexipClient
from bot.slack.mrkdwn import plain


def run_register(settings: Settings, locations: list[str]) -> int:
    """Print what was done, one line each; exit 0, or 1 when the node refused or failed."""
    configure_logging(settings.log_level)
    pexip = settings.pexip()
    events = settings.events()
    if settings.public_url is None:
        raise ConfigError(
            "PUBLIC_URL is not set: the bot's public base URL, e.g. https://pexbot.example.com"
        )
    if events is None:
        raise ConfigError(
            "PEXIP_EVENTS_USERNAME and PEXIP_EVENTS_PASSWORD are not set: the credentials "
            "the event sink must present"
        )
    url = event_sinks.events_url(str(settings.public_url))

    async def register() -> event_sinks.Registered:
        async with PexipClient(pexip) as client:
            return await event_sinks.register(
                client, url, events.username, events.password, locations
            )

    try:
        done = asyncio.run(register())
    except errors.PexipError as exc:
        print(f"pexbot events register: {plain(read_failed(exc))}", file=sys.stderr)
        return 1
    for line in done.lines:
        print(line)
    return 0
