"""Slack handlers: every command is declared once, with its executor, in the module of its area
(`handlers.registry`); importing them here registers them, in this order (the order `help`
lists them). `register` attaches to a Bolt app one listener per kind of request: the slash
command, every button action id the declarations offer, the forms and their pickers.

    help.py          help, whoami
    participants.py  participants, mute, unmute, disconnect, admit, transfer (and its form), role
    conferences.py   conferences, lock, unlock, mute-guests, unmute-guests, layout, end, sync
    dialling.py      dial (and its form)
    health.py        status
    backups.py       backup now | list | restore
    approvals.py     two-person approval: the request, Approve / Reject, the expiry on SQLite
    live.py          live meetings: lobby cards (the Admit / Disconnect buttons above), rosters
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from bot.services import Periodic, Services
from handlers import (
    approvals,
    backups,
    conferences,
    dialling,
    health,
    help,
    live,
    modals,
    participants,
    recorded,
)
from handlers.listeners import CONFIRM, PICK, Listeners
from handlers.registry import REGISTRY

__all__ = ["AREAS", "register"]

AREAS = (help, participants, conferences, dialling, health, backups)
PICK_ACTIONS = re.compile(rf"^{PICK}\d+$")


def register(app: Any, services: Services) -> None:
    """Attach every listener to a Bolt `AsyncApp`."""
    on = Listeners(services)
    if services.journal is not None:
        services.recovery = recorded.recovery(services, services.journal, app.client)
    app.command(services.slash)(on.slash)
    for action_id in (*REGISTRY.action_ids, CONFIRM):
        app.action(action_id)(on.button)
    app.action(PICK_ACTIONS)(on.button)
    app.action("cancel")(on.cancel)
    app.action(approvals.APPROVE)(on.decision)
    app.action(approvals.REJECT)(on.decision)
    if services.authorizer.policy.approval and not services.shared_database:
        # the one serve of an SQLite file expires requests too, so that it needs no clock for
        # it; on PostgreSQL the leading clock alone does (`bot.approval_expiry`)
        services.periodic.append(
            Periodic("approval expiry", approvals.SWEEP_SECONDS, partial(approvals.sweep, services))
        )
    app.view(modals.DIAL_CALLBACK)(on.dial_submitted)
    app.view(modals.TRANSFER_CALLBACK)(on.transfer_submitted)
    app.options(modals.CONFERENCE_OPTIONS)(on.conference_options)
    app.error(on.unhandled)  # what no listener above takes: acknowledged (the app raises it)
    live.install(services, app.client)
