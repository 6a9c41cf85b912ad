"""Another process finishes what a stopped one acknowledged: queued commands run again,
commands that may have reached the node are reported as of unknown outcome, once each."""

from __future__ import annotations

import asyncio
import signal

import pytest

from bot.coordination.journal import Entry, Journal, running
from bot.coordination.presence import LocalPresence, SharedPresence
from bot.coordination.recovery import Recovery
from tests.coordination.conftest import start_python

pytestmark = pytest.mark.postgres

LEAVE_TWO_COMMANDS = """
import asyncio, sys
from bot.coordination.journal import Journal, running
from bot.coordination.presence import SharedPresence
from bot.coordination.recovery import Recovery
async def main():
    journal = Journal({url!r}, SharedPresence({url!r}))
    async def nothing(entry):
        pass
    recovery = Recovery(journal, rerun=nothing, unknown=nothing)
    await recovery.start()
    await journal.record("command", {{"text": "mute alice"}})
    sent = await journal.record("command", {{"text": "dial bob"}})
    with running(sent):
        await journal.before_change()
    print("ready", flush=True)
    sys.stdin.readline()  # until told to stop
    await recovery.close()
asyncio.run(main())
"""


class Seen:
    def __init__(self) -> None:
        self.reruns: list[str] = []
        self.unknowns: list[str] = []
        self.changed = asyncio.Event()

    async def rerun(self, entry: Entry) -> None:
        self.reruns.append(entry.payload["text"])
        self.changed.set()

    async def unknown(self, entry: Entry) -> None:
        self.unknowns.append(entry.payload["text"])
        self.changed.set()

    async def both(self, seconds: float) -> None:
        async with asyncio.timeout(seconds):
            while len(self.reruns) + len(self.unknowns) < 2:
                self.changed.clear()
                await self.changed.wait()


async def recovering(url: str, seen: Seen, poll: float) -> Recovery:
    recovery = Recovery(
        Journal(url, SharedPresence(url)), rerun=seen.rerun, unknown=seen.unknown, poll=poll
    )
    await recovery.start()
    return recovery


async def test_a_killed_process_commands_are_finished_by_another(pg_url, other_process) -> None:
    seen = Seen()
    recovery = await recovering(pg_url, seen, poll=0.2)
    try:
        dying = start_python(other_process, LEAVE_TWO_COMMANDS.format(url=pg_url))
        await asyncio.sleep(0.5)
        assert seen.reruns == seen.unknowns == []  # its process is alive
        dying.send_signal(signal.SIGKILL)
        await seen.both(5)
        await asyncio.sleep(0.5)  # and nothing more comes
    finally:
        await recovery.close()
    assert (seen.reruns, seen.unknowns) == (["mute alice"], ["dial bob"])


async def test_a_process_that_stops_wakes_the_others_at_once(pg_url, other_process) -> None:
    seen = Seen()
    recovery = await recovering(pg_url, seen, poll=60)  # only a NOTIFY can wake it in time
    try:
        stopping = start_python(other_process, LEAVE_TWO_COMMANDS.format(url=pg_url))
        assert stopping.stdin is not None
        stopping.stdin.write("stop\n")
        stopping.stdin.flush()
        await seen.both(5)
    finally:
        await recovery.close()
    assert (seen.reruns, seen.unknowns) == (["mute alice"], ["dial bob"])


async def test_a_restarted_sqlite_process_finishes_what_it_left(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/pexbot.db"
    before = Journal(url, LocalPresence())
    await before.record("command", {"text": "mute alice"})
    sent = await before.record("command", {"text": "dial bob"})
    with running(sent):
        await before.before_change()
    before.close()
    seen = Seen()
    recovery = Recovery(Journal(url, LocalPresence()), rerun=seen.rerun, unknown=seen.unknown)
    await recovery.start()
    await recovery.close()
    assert (seen.reruns, seen.unknowns) == (["mute alice"], ["dial bob"])
