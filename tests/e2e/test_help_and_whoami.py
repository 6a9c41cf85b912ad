"""`help` and `whoami`: what each person may do, shown only to them, in any channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Seen, audited
from tests.fixtures.bot import ADMIN, CHANNEL, MODERATOR, POLICY, SCOPED, STRANGER, VIEWER, Bot

OTHER_CHANNEL = "C0LOBBY01"
ROOMS_ONLY_POLICY = POLICY + f"channels: [{CHANNEL}]\n"


def test_help_lists_only_what_a_viewer_may_run(bot: Bot, seen: Seen) -> None:
    bot.slack.command("help", user=VIEWER)

    shown = seen.private("Commands you may run:")
    assert "`/pexip conferences`" in shown.shown
    assert "`/pexip participants <conference>`" in shown.shown
    assert "`/pexip help [command]`" in shown.shown
    assert "`/pexip whoami`" in shown.shown
    for word in ("mute", "dial", "end", "backup", "sync"):
        assert f"`/pexip {word}" not in shown.shown
    assert "`/pexip help &lt;command&gt;` for an example" in str(shown.blocks)
    assert seen.in_channel() == []


def test_help_for_an_admin_lists_every_command(bot: Bot, seen: Seen) -> None:
    bot.slack.command("help", user=ADMIN)

    shown = seen.private("Commands you may run:")
    for form in ("mute <participant>", "mute-guests <conference>", "sync <template-id>"):
        assert f"`/pexip {form}`" in shown.shown
    assert "`/pexip backup now` or `/pexip backup list` or `/pexip backup restore" in shown.shown


def test_help_dial_shows_the_form_and_an_example(bot: Bot, seen: Seen) -> None:
    bot.slack.command("help dial", user=MODERATOR)

    shown = seen.private("`/pexip dial <conference-alias> <destination> [role=chair|guest]")
    assert "[location=<system location>] [node=<IP address>] [name=<display name>]" in shown.shown
    assert "Example: `/pexip dial meet@example.com alice@example.com" in shown.shown
    assert "You may not run this command" not in shown.shown


def test_help_on_a_command_the_user_may_not_run_says_so(bot: Bot, seen: Seen) -> None:
    bot.slack.command("help end", user=VIEWER)

    seen.private("You may not run this command: ask an administrator for access.")


def test_whoami_lists_roles_and_their_scopes(bot: Bot, seen: Seen) -> None:
    bot.slack.command("whoami", user=SCOPED)

    shown = seen.private(f"You are <@{SCOPED}>.")
    assert (
        "*vmr-moderator*: `conferences`, `participants`, `mute`, `unmute`, `role`, `layout`,"
        " `lock`, `unlock`"
        " — on `VMR_*`, `*@meet.example.com`"
    ) in shown.shown


def test_whoami_never_scopes_node_wide_permissions(bot: Bot, seen: Seen) -> None:
    bot.slack.command("whoami", user=ADMIN)

    shown = seen.private(f"You are <@{ADMIN}>.")
    assert "`end` — on every conference" in shown.text
    assert "`sync`, `status`, `backup`, `restore` — on the whole management node" in shown.text
    assert "`restore` — on every conference" not in shown.text


def test_whoami_for_someone_without_a_role(bot: Bot, seen: Seen) -> None:
    bot.slack.command("whoami", user=STRANGER)

    seen.private("You hold no role, so you may only use `help` and `whoami`.")


def test_help_and_whoami_work_outside_the_accepted_channels_and_nothing_else_does(
    bot_with: Callable[..., Bot], seen: Seen, simulator: Any
) -> None:
    bot = bot_with(policy=ROOMS_ONLY_POLICY)
    simulator.control.reset_stats()

    bot.slack.command("help", user=MODERATOR, channel=OTHER_CHANNEL)
    seen.private("Commands you may run:")
    bot.slack.command("whoami", user=MODERATOR, channel=OTHER_CHANNEL)
    seen.private(f"Commands are accepted in <#{CHANNEL}>.")
    bot.slack.command("conferences", user=MODERATOR, channel=OTHER_CHANNEL)

    seen.private(f"commands are only accepted in <#{CHANNEL}>")
    assert simulator.control.stats()["requests_total"] == 0
    audited(bot, user=MODERATOR, command="conferences", outcome="denied", channel=OTHER_CHANNEL)

    bot.slack.command("conferences", user=MODERATOR, channel=CHANNEL)
    seen.private("Running conferences")


def test_an_unknown_command_word_suggests_the_closest(bot: Bot, seen: Seen) -> None:
    bot.slack.command("mutee Bob", user=MODERATOR)

    seen.private("Did you mean `mute`?")
    audited(bot, user=MODERATOR, outcome="invalid")
