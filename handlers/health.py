"""`status`: the management node's health, privately (INTERFACE §9)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.health.nodes import read_status
from bot.health.render import render_status
from bot.slack.replies import Message
from handlers import arguments as read
from handlers.context import Context, Listing
from handlers.registry import Command, Usage, command


class Status(Command):
    """`status`."""


@command(
    Status,
    word="status",
    permission="status",
    kind="listing",
    usage=Usage(
        "status",
        "Show the management node's version, each conferencing node (location, load, "
        "maintenance, sync), licence use and the active alarms.",
        "status",
    ),
    grammar=read.no_arguments,
)
async def status(ctx: Context, command: Status) -> Listing:
    found = await read_status(ctx.services.pexip, datetime.now(UTC))
    text, blocks = render_status(found, ctx.services.license_alert_percent)
    return Listing(Message(text, blocks), "management node")
