"""The clock's health job: every HEALTH_POLL_SECONDS, read the node (three requests, no
retries: the next poll is the retry), decide (`bot.health.alerts.plan`) and post to OPS_CHANNEL.

`health_poll` is referenced by name in the clock's job store and takes no arguments: it reads
the settings when it runs, so no secret is pickled into the database. What it posted is kept in
`bot.health.store`; a message is claimed there before it is posted, and a post Slack refuses is
given back, so the next poll tries it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, Settings
from bot.health.alerts import Close, Entry, Forget, Key, Message, Post, Remember, Step, plan
from bot.health.nodes import Health, read_health
from bot.health.store import AlertStore, AlertStoreError
from bot.pexip import errors
from bot.pexip.client import PexipClient, RetryPolicy
from bot.slack.client import slack_client

log = logging.getLogger(__name__)

JOB_ID = "health-poll"
JOB_FUNC = "bot.health.poll:health_poll"
NO_RETRIES = RetryPolicy(attempts=1)
GONE = frozenset({"message_not_found", "cant_update_message", "channel_not_found"})
"""chat.update errors after which the alert is posted anew rather than edited."""


def schedule_health(scheduler: BaseScheduler, settings: Settings) -> bool:
    """Add (or replace) the health job when OPS_CHANNEL is set, else remove it; the first poll
    runs at once. True when it is scheduled."""
    if not settings.ops_channel:
        if scheduler.get_job(JOB_ID) is not None:
            scheduler.remove_job(JOB_ID)
        return False
    scheduler.add_job(
        JOB_FUNC,
        IntervalTrigger(seconds=settings.health_poll_seconds),
        id=JOB_ID,
        name="health poll",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=settings.health_poll_seconds,
        next_run_time=datetime.now(UTC),
    )
    log.info(
        "health alerts to %s every %d s (licences alert at %d%%)",
        settings.ops_channel,
        settings.health_poll_seconds,
        settings.license_alert_percent,
    )
    return True


async def health_poll() -> None:
    """The scheduled job: one poll, when OPS_CHANNEL and SLACK_BOT_TOKEN are set."""
    try:
        settings = Settings.load()
        settings.pexip()
    except ConfigError as exc:
        log.error("the health poll cannot run: configuration error: %s", exc)
        return
    if not settings.ops_channel or settings.slack_bot_token is None:
        return
    web = slack_client(settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url))
    store = AlertStore(settings.database_url)
    try:
        await poll_once(settings, store, web)
    except AlertStoreError as exc:
        log.error("health poll: %s; nothing was posted", exc)
    finally:
        store.close()


async def poll_once(
    settings: Settings, store: AlertStore, web: AsyncWebClient, *, now: datetime | None = None
) -> list[Step]:
    """Read, decide, post; returns the steps taken (attempted)."""
    moment = now or datetime.now(UTC)
    reading = await _read(settings, moment)
    steps = plan(await store.entries(), reading, moment, settings.license_alert_percent)
    channel = settings.ops_channel or ""
    await Alerts(store, web, channel, moment).apply(steps)
    return steps


async def _read(settings: Settings, now: datetime) -> Health | str:
    """This poll's reading, or what failed (e.g. "read the alarms: could not connect...")."""
    async with PexipClient(settings.pexip(), retry=NO_RETRIES) as client:
        try:
            return await read_health(client, now)
        except errors.PexipError as exc:  # its message names what failed, never a secret
            log.warning("health poll: %s", exc.message)
            return exc.message


@dataclass
class Alerts:
    """Carries out the steps: remember first, post, then note the message (or give back)."""

    store: AlertStore
    web: AsyncWebClient
    channel: str
    now: datetime

    async def apply(self, steps: list[Step]) -> None:
        entries = await self.store.entries()
        for step in steps:
            await self._apply(step, entries)

    async def _apply(self, step: Step, entries: dict[Key, Entry]) -> None:
        if isinstance(step, Remember):
            await self.store.save(step.kind, step.key, step.data, self.now)
        elif isinstance(step, Forget):
            await self.store.forget(step.entry.kind, step.entry.key)
        elif isinstance(step, Close):
            await self._close(step)
        elif step.keep:
            await self._post_kept(step)
        else:
            await self._post_once(step, entries.get((step.kind, step.key)))

    async def _post_kept(self, step: Post) -> None:
        if not await self.store.claim(step.kind, step.key, step.data, self.now):
            return  # another clock posted it
        ts = await self._post(step.message)
        if ts is None:
            await self.store.forget(step.kind, step.key)
        else:
            await self.store.posted(step.kind, step.key, self.channel, ts)

    async def _post_once(self, step: Post, before: Entry | None) -> None:
        await self.store.save(step.kind, step.key, step.data, self.now)
        if await self._post(step.message) is None and before is not None:
            await self.store.save(step.kind, step.key, before.data, before.since)

    async def _close(self, step: Close) -> None:
        """Edit the message in place; post anew if it was never noted or is gone."""
        entry = step.entry
        done = None
        if entry.ts and entry.channel:
            done = await self._update(entry.channel, entry.ts, step.message)
        if done is None:
            done = await self._post(step.message) is not None
        if done:
            await self.store.forget(entry.kind, entry.key)

    async def _post(self, message: Message) -> str | None:
        """The new message's ts, or None (logged) when Slack would not take it."""
        try:
            response = await self.web.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as exc:  # a lost alert is tried again by the next poll
            log.error("health alert not posted to %s: %s", self.channel, exc)
            return None
        ts = response.get("ts")
        return str(ts) if ts else None

    async def _update(self, channel: str, ts: str, message: Message) -> bool | None:
        """True when edited; False to try again next poll; None when the message is gone."""
        try:
            await self.web.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            log.error("health alert %s in %s not updated: %s", ts, channel, error or exc)
            return None if error in GONE else False
        except Exception as exc:  # tried again by the next poll
            log.error("health alert %s in %s not updated: %s", ts, channel, exc)
            return False
        return True
