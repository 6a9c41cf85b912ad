"""Slack handlers. `register` lists every command, action id, form and options source on one
screen; `handlers.dispatch` lists which function runs each typed command."""

from __future__ import annotations

import re
from typing import Any

from bot.services import Services

# Buttons that run the command line carried in their value, for the person who clicked.
RUN_ACTIONS = (
    "participant_mute",
    "participant_unmute",
    "participant_disconnect",
    "participant_admit",
    "conference_participants",
    "conference_lock",
    "conference_unlock",
    "conference_mute_guests",
    "conference_unmute_guests",
    "conference_end",
    "confirm",
    "backup_retry",
)
PICK_ACTIONS = re.compile(r"^pick_\d+$")  # one button per candidate when a name is ambiguous


def register(app: Any, services: Services) -> None:
    """Attach every listener to a Bolt `AsyncApp`."""
    from handlers import modals
    from handlers.listeners import Listeners

    on = Listeners(services)
    app.command(services.slash)(on.slash)
    for action_id in RUN_ACTIONS:
        app.action(action_id)(on.button)
    app.action(PICK_ACTIONS)(on.button)
    app.action("cancel")(on.cancel)
    app.action("participant_transfer")(on.transfer_button)
    app.view(modals.DIAL_CALLBACK)(on.dial_submitted)
    app.view(modals.TRANSFER_CALLBACK)(on.transfer_submitted)
    app.options(modals.CONFERENCE_OPTIONS)(on.conference_options)
