"""A guest chooses their own display name, and a user types what they like: through the real bot,
none of it can make pexbot ping `@channel`, mention, link or format (INTERFACE §4)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Seen, participants, wait_until
from tests.fixtures.bot import ADMIN, Bot
from tests.slack.test_literal_rendering import assert_safe_mrkdwn, mrkdwn_texts

HOSTILE_NAME = "<!here|x> *bold* <https://evil.example|click>"
# What Slack sends when that is typed: its `<` and `>` escaped (the tokenizer undoes it).
TYPED_NAME = HOSTILE_NAME.replace("<", "&lt;").replace(">", "&gt;")


def _everything_is_literal(seen: Seen) -> list[Any]:
    said = seen.everything()
    assert said
    for message in said:
        for text in mrkdwn_texts(message):
            assert_safe_mrkdwn(text)
    return said


def test_the_issue_s_dial_no_longer_pings_the_channel(bot: Bot, seen: Seen, simulator: Any) -> None:
    """`&lt;` is how Slack sends a typed `<`; the tokenizer turns it back into `<`."""
    simulator.control.settings(answer_delay=0.1)

    bot.slack.command(
        f'dial vmr3@meet.example.com "&lt;!channel&gt;" location=London name="{TYPED_NAME}"',
        user=ADMIN,
    )

    ringing = seen.public("into VMR_3. Ringing…")
    assert ringing.text == f"<@{ADMIN}> is dialling &lt;!channel&gt; into VMR_3. Ringing…"
    assert ringing.shown == f"<@{ADMIN}> is dialling <!channel> into VMR_3. Ringing…"
    seen.update("into VMR_3. Connected.")
    _everything_is_literal(seen)


def test_a_guest_s_chosen_name_is_listed_and_acted_on_literally(
    bot: Bot, seen: Seen, simulator: Any
) -> None:
    bot.slack.command(
        f'dial vmr3@meet.example.com guest@example.com location=London name="{TYPED_NAME}"',
        user=ADMIN,
    )
    wait_until(lambda: participants(simulator, display_name=HOSTILE_NAME), 5, "the guest")

    bot.slack.command("participants VMR_3", user=ADMIN)
    listing = seen.private("＊bold＊")
    assert "<!here|x> ＊bold＊ <https://evil.example|click>" in listing.shown
    bot.slack.command('mute "&lt;!here|x&gt;"', user=ADMIN)
    seen.public("muted <!here|x> ＊bold＊")
    bot.slack.command('transfer "&lt;!here|x&gt;" to vmr2@meet.example.com', user=ADMIN)
    moved = seen.public("transferred <!here|x> ＊bold＊")
    assert "&amp;lt;" not in moved.text  # escaped once, at the boundary, not twice
    bot.slack.command("mute &lt;@U0ADMIN01&gt;", user=ADMIN)  # no one: the typed text comes back
    seen.private("No participant matching '<@U0ADMIN01>'")

    said = _everything_is_literal(seen)
    assert not any("<!here" in m.text or "<https://" in m.text for m in said)
