"""How long the live records of finished messages and meetings are kept (`bot.events.records`).

A record is kept while an event or a click may still change what it decides:
- a lobby card (`m:lobby:<uuid>:<channel>`) while its guest is in the records and it may still
  change: once it shows an outcome (admitted, left, disconnected) and the guest has left (or
  the meeting ended), no event changes it again (`handlers.live` ignores the events of a guest
  who left, and a click acts on the node, not on the card). A waiting card whose guest is no
  longer in the records (the meeting ended unseen) is as finished;
- a roster or a started / ended notice (`m:roster:<run>:…`, `m:notice:<run>:…`) while its
  meeting runs: the notices keep a run from posting twice, the roster shows who is in it;
- an ended meeting (`c:<name>`) for `MEETING_RETAIN`: late deliveries of its events (the
  receiver's seen-once window, `bot.events.receiver.SEEN_SECONDS`) must find it ended rather
  than start it again.
A message found finished is marked so (`finished`: when that was first seen) and deleted
`RETAIN` later, with where it was posted (`t:<key>`) and its version (`message_versions`): by
then its last edit was sent long ago (the coalescer sends within seconds), and every process
has looked at the records again. On PostgreSQL a deletion is a tombstone the other processes
read in their next turn (`LiveRecords.drop`), itself deleted an hour later.

Each `serve` sweeps in a turn of the records, at most every `SWEEP_EVERY` seconds and at most
`BATCH` deletions at a time: an in-memory scan of rows the process holds anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.events.records import LiveRecords, Record

RETAIN = 3600.0
"""A finished card, notice or roster is deleted this long after it was found finished."""
MEETING_RETAIN = 12 * 3600.0
"""An ended meeting's record: as long as the receiver remembers a delivery (a late one)."""
SWEEP_EVERY = 600.0
BATCH = 500
POSTED = "t:"


@dataclass
class Swept:
    marked: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    """The message keys deleted (their `t:` rows went with them) and the meetings."""


async def sweep(records: LiveRecords, now: float, batch: int = BATCH) -> Swept:
    """In a turn of `records`: mark what has finished, delete what finished `RETAIN` ago."""
    swept = Swept()
    runs: dict[str, Record] = {}
    for key in records.keys("c:"):
        meeting = records.get(key) or {}
        runs[str(meeting.get("run"))] = meeting
        end = meeting.get("end")
        ended_at = float(end) if isinstance(end, int | float) else now
        if meeting.get("ended") and now - ended_at > MEETING_RETAIN and _room(swept, batch):
            await records.drop(key)
            swept.deleted.append(key)
    for key in records.keys("m:"):
        record = records.get(key)
        if record is None or not _finished(records, key, record, runs):
            continue
        since = record.get("finished")
        if not isinstance(since, int | float):
            if len(swept.marked) < batch:
                await records.put(key, {**record, "finished": now})
                swept.marked.append(key)
        elif now - since > RETAIN and _room(swept, batch):
            await records.drop(key, POSTED + key)
            swept.deleted.append(key)
    return swept


def _room(swept: Swept, batch: int) -> bool:
    return len(swept.deleted) < batch


def _finished(records: LiveRecords, key: str, record: Record, runs: dict[str, Record]) -> bool:
    kind, _, rest = key[2:].partition(":")
    if kind == "lobby":
        guest = records.get(f"p:{record.get('uuid')}")
        return guest is None or bool(guest.get("gone") and record.get("status") != "waiting")
    if kind in ("roster", "notice"):
        meeting = runs.get(rest.partition(":")[0])
        return meeting is None or bool(meeting.get("ended"))
    return False
