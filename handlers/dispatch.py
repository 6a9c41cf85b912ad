"""Every typed command and the handler that runs it, on one screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from handlers import backups, conferences, dialling, help, participants
from handlers.commands import (
    Admit,
    BackupList,
    BackupNow,
    BackupRestore,
    BaseCommand,
    Conferences,
    Dial,
    Disconnect,
    End,
    Help,
    Lock,
    Mute,
    MuteGuests,
    OpenDialModal,
    Participants,
    Sync,
    Transfer,
    Unlock,
    Unmute,
    UnmuteGuests,
    WhoAmI,
)
from handlers.context import Context, Outcome

Executor = Callable[[Context, Any], Awaitable[Outcome]]

EXECUTORS: dict[type[BaseCommand], Executor] = {
    Help: help.help_text,
    WhoAmI: help.whoami,
    Conferences: conferences.conferences,
    Participants: conferences.participants,
    OpenDialModal: dialling.open_form,
    Dial: dialling.dial,
    Mute: participants.on_participant,
    Unmute: participants.on_participant,
    Disconnect: participants.on_participant,
    Admit: participants.on_participant,
    Transfer: participants.transfer,
    participants.OpenTransferForm: participants.open_transfer_form,
    Lock: conferences.on_conference,
    Unlock: conferences.on_conference,
    MuteGuests: conferences.on_conference,
    UnmuteGuests: conferences.on_conference,
    End: conferences.end,
    Sync: conferences.sync,
    BackupNow: backups.backup_now,
    BackupList: backups.backup_list,
    BackupRestore: backups.backup_restore,
}
