"""A guest chooses their own display name: the longest, widest one still leaves every
moderator their roster and its buttons (Slack refuses a whole message over one field)."""

from __future__ import annotations

import json
from typing import Any

from bot.slack.limits import units
from tests.e2e.conftest import Seen, wait_until
from tests.fixtures.bot import MODERATOR, Bot

EMOJI_NAME = "\U0001f600" * 170


def test_a_170_emoji_guest_leaves_the_roster_and_its_transfer_button_working(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command(
        f'dial vmr1@meet.example.com guest@example.com name="{EMOJI_NAME}"', user=MODERATOR
    )
    seen.public("is dialling guest@example.com into VMR_1")
    seen.update("into VMR_1", timeout=8)

    bot.slack.command("participants VMR_1", user=MODERATOR)

    roster = seen.private("VMR_1: 4 participants")
    assert EMOJI_NAME in roster.text
    transfers = [b for b in seen.buttons(roster) if b["action_id"] == "participant_transfer"]
    assert len(transfers) == 4
    assert all(units(b["value"]) <= 2000 for b in seen.buttons(roster))
    ours = next(b for b in transfers if EMOJI_NAME[:10] in json.loads(b["value"])["a"]["label"])

    bot.slack.click(ours, user=MODERATOR)
    form = seen.view("views.open")
    assert form["callback_id"] == "transfer_form"
    wait_until(lambda: EMOJI_NAME[:10] in json.dumps(form, ensure_ascii=False), 1, "the name")
