"""Live meetings in Slack (INTERFACE §8): events from the node's event sink become lobby cards,
live rosters and started / ended notices in the channels of the policy's `watch` entries.

    POST /pexip/events (bot.events.receiver) ▶ inbox ▶ LiveMeetings (here, one event at a time)
        ▶ state merged into bot.events.records (DATABASE_URL), in a turn ▶ messages marked dirty
        ▶ bot.events.coalesce sends each message's newest state (post once, then chat.update)
          through bot.coordination.message_edits (one edit of a message at a time, in order)

Several `serve` processes sharing a PostgreSQL database act as one (INTERFACE §10): each event is
handled in a turn of the records (one at a time across the processes, on what all of them wrote),
so a guest gets one card whichever process each delivery reaches, and a card says who admitted
them whichever process ran the click (`bot.events.intents`). Each change of what a message shows
raises its version (`v`); an edit is sent only if no newer version was sent before it, and a
message is posted only if nobody posted it (its ts is read inside the message's turn), so two
processes never post one card twice and an older render never replaces a newer one.

Events alone: a participant event carries the whole field set (merged, never a missing key read
as false). The status API is read once for a conference whose start the bot did not see (it ran
before the sink, or while the bot was away), so that its roster is whole from the first post;
it is read outside the turn (a slow node holds up no other conference's events, in any process)
and applied in the next turn to what the records hold by then.
Order and repeats do not matter: an event older than what is known of a participant (node time,
then seq) changes nothing, and a participant who left stays gone. A card's buttons are the
declared Admit / Disconnect buttons, so a click takes the one path of every button
(`handlers.runner`): the clicker is authorized, scope included, and audited.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, DividerBlock
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth.policy import ConferenceScope, Watch
from bot.coordination.message_edits import MessageEditError, MessageEdits
from bot.events import retention
from bot.events.coalesce import Coalescer, TooSoon
from bot.events.envelope import Event
from bot.events.records import LiveRecords, Record
from bot.pexip import errors, status
from bot.pexip.errors import PexipError
from bot.pexip.models import IN_THE_ROOM, Conference, Participant
from bot.services import Services
from bot.slack.client import edit_client
from bot.slack.mrkdwn import Mrkdwn, mention, render
from bot.slack.replies import Message
from handlers import blocks
from handlers.commands import ParticipantRef
from handlers.participants import Admit, Disconnect, row_buttons
from handlers.registry import REGISTRY

NodeView = tuple[Conference | None, list[Participant]] | PexipError
"""What the status API said of a conference and who is in it (or why it could not)."""

log = logging.getLogger(__name__)

WAITING = "waiting_room"
POSTED = "t:"  # + a message's key: where it was posted
INTENT = "i:"  # + a participant id: who asked to admit or disconnect them (bot.events.intents)
ROSTER_BUTTONS = frozenset({"mute", "unmute", "admit", "disconnect", "transfer"})
"""Every roster button is offered; the click is checked for whoever clicks it."""


class LiveMeetings:
    """The consumer of the event inbox (`bot.events.receiver.EventInbox`)."""

    def __init__(
        self, services: Services, web: AsyncWebClient, records: LiveRecords, window: float = 1.0
    ) -> None:
        self.services = services
        self.web = web
        self.records = records
        self.edits = Coalescer(self._send, window)
        self.versions = services.edits or MessageEdits(records.database_url)
        self.dropped: Counter[str] = Counter()  # events of conferences no watch matches
        self._swept = -retention.SWEEP_EVERY

    async def __call__(self, event: Event) -> None:
        name = event.conference
        if name is None:
            return  # sink lifecycle, media statistics: nothing to show
        watches = await self._watches(name)
        if not watches:
            self.dropped[event.name] += 1
            return
        async with self.records.turn():
            deleted = await self._sweep()
            catch_up = self._unseen_start(event, name)
            if not catch_up:
                await self._handle(event, name, watches)
        await self._forget(deleted)
        if not catch_up:
            return
        # the node is read outside the turn: a slow node must not hold up every process's
        # events; what was read is applied in the next turn, to the records as they are then
        node = await _read_node(self.services, name)
        async with self.records.turn():
            await self._handle(event, name, watches, node)

    async def _sweep(self) -> list[str]:
        """Now and then, in a turn: the records of finished messages and meetings go
        (`bot.events.retention`); the message keys deleted."""
        if time.monotonic() - self._swept < retention.SWEEP_EVERY:
            return []
        self._swept = time.monotonic()
        swept = await retention.sweep(self.records, time.time())
        if swept.deleted:
            log.info("deleted the live records of %d finished messages", len(swept.deleted))
        return [key for key in swept.deleted if key.startswith("m:")]

    async def _forget(self, keys: list[str]) -> None:
        try:
            await self.versions.forget(keys)
        except MessageEditError as exc:
            log.warning("%s", exc)

    async def _handle(
        self, event: Event, name: str, watches: list[Watch], node: NodeView | None = None
    ) -> None:
        if event.name.startswith("participant_"):
            await self._participant(event, name, watches, node)
        elif event.name.startswith("conference_"):
            await self._conference(event, name, watches, node)

    def _unseen_start(self, event: Event, conference: str) -> bool:
        """Handling `event` would start the record of a conference whose start the bot did not
        see (`_catch_up`): the node is to be read first. Mirrors `_participant`, `_meeting`
        and `_conference`."""
        meeting = self.records.get(f"c:{conference}")
        if event.name.startswith("participant_"):
            if event.participant is None:
                return False
            known = self.records.get(f"p:{event.participant}") or {}
            if known.get("gone") or _order(event) < tuple(known.get("order", (0.0, 0))):
                return False
            return meeting is None or bool(meeting.get("ended") and event.time > meeting["end"])
        if not event.name.startswith("conference_") or event.name == "conference_started":
            return False
        if meeting is not None and meeting.get("ended"):
            return False  # about the instance that ended (a new one starts with its event)
        return meeting is None

    async def _mark(self, key: str) -> None:
        """What message `key` shows changed: a new version of it, sent by the coalescer."""
        record = self.records.get(key)
        if record is None:
            return
        await self.records.put(key, {**record, "v": int(record.get("v", 0)) + 1})
        self.edits.mark(key)

    # --- which watches ---------------------------------------------------------------------

    async def _watches(self, name: str) -> list[Watch]:
        watches = self.services.authorizer.policy.watch
        if not watches:
            return []
        scope = ConferenceScope(name=name)
        found = [watch for watch in watches if watch.covers(scope)]
        if found:
            return found
        try:  # a watch may name the conference by an alias (configuration API, cached)
            scope = ConferenceScope(
                name=name, aliases=await self.services.conference_aliases.of(name)
            )
        except errors.PexipError as exc:
            log.info("could not read the aliases of %s for the watch list: %s", name, exc.message)
            return []
        return [watch for watch in watches if watch.covers(scope)]

    # --- participants ------------------------------------------------------------------------

    async def _participant(
        self, event: Event, conference: str, watches: list[Watch], node: NodeView | None
    ) -> None:
        uuid_ = event.participant
        if uuid_ is None:
            return
        key = f"p:{uuid_}"
        known = self.records.get(key) or {}
        if known.get("gone") or _order(event) < tuple(known.get("order", (0.0, 0))):
            return  # left already, or older than what is known: a late or repeated event
        meeting = await self._meeting(conference, event, node)
        if meeting.get("ended"):
            return
        data = {**known.get("data", {}), **{k: v for k, v in event.data.items() if v is not None}}
        moved_from = known.get("conference")
        record = {
            "data": data,
            "conference": conference,
            "order": list(_order(event)),
            "updated": event.time,
            "gone": event.name == "participant_disconnected",
        }
        await self.records.put(key, record)
        await self._count_peak(conference, meeting)
        for watch in watches:
            if "lobby" in watch.show:
                await self._lobby(uuid_, record, watch)
            if "roster" in watch.show:
                await self._mark(await self._roster_key(conference, meeting, watch))
        if moved_from and moved_from != conference:
            await self._refresh_rosters(moved_from)

    async def _lobby(self, uuid_: str, participant: Record, watch: Watch) -> None:
        key = f"m:lobby:{uuid_}:{watch.channel}"
        card = self.records.get(key)
        service_type = participant["data"].get("service_type", "")
        if card is None:
            if service_type == WAITING and not participant["gone"]:
                card = {"channel": watch.channel, "uuid": uuid_, "status": "waiting"}
                card["data"] = participant["data"]
                await self.records.put(key, card)
                await self._mark(key)
            return
        if card["status"] != "waiting":
            return
        if participant["gone"]:
            by = await self.services.intents.who("disconnect", uuid_)
            card |= {"status": "disconnected" if by else "left", "by": by}
        elif service_type in IN_THE_ROOM:
            card |= {"status": "admitted", "by": await self.services.intents.who("admit", uuid_)}
        card["data"] = participant["data"]
        await self.records.put(key, card)
        await self._mark(key)

    async def _count_peak(self, conference: str, meeting: Record) -> None:
        present = sum(1 for person in self._people(conference) if _in_room(person))
        if present > meeting.get("peak", 0):
            meeting["peak"] = present
            await self.records.put(f"c:{conference}", meeting)

    def _people(self, conference: str) -> list[Record]:
        people = (self.records.get(key) for key in self.records.keys("p:"))
        return [p for p in people if p and p["conference"] == conference and not p["gone"]]

    # --- conferences -------------------------------------------------------------------------

    async def _meeting(self, conference: str, event: Event, node: NodeView | None) -> Record:
        """The conference's record; one is started when a participant event comes first (the
        bot started mid-meeting, or the start event is late)."""
        meeting = self.records.get(f"c:{conference}")
        later = meeting is not None and meeting.get("ended") and event.time > meeting["end"]
        if meeting is None or later:  # none yet, or a new instance after the one that ended
            meeting = _new_meeting(None)
            await self.records.put(f"c:{conference}", meeting)
            meeting = await self._catch_up(conference, meeting, node)
        return meeting

    async def _catch_up(self, conference: str, meeting: Record, node: NodeView | None) -> Record:
        """The start of this conference was not seen (it ran before the sink did, or the bot
        was away): read who is in it once from the status API, so the roster is whole. Any
        later event about a participant supersedes what was read.

        The node was read before the turn (`__call__`): meanwhile other events may have been
        handled, so only what the records do not know yet is taken from it."""
        if node is None:  # the records changed since: rare, and later events fill the roster
            log.info("%s started unseen; its roster fills from the events that follow", conference)
            return meeting
        if isinstance(node, PexipError):
            log.info("could not read who is in %s: %s", conference, node.message)
            return meeting
        running, people = node
        if running is not None:
            meeting |= {"locked": running.is_locked, "started": running.is_started}
            if running.start_time is not None:
                meeting["start"] = running.start_time.timestamp()
            await self.records.put(f"c:{conference}", meeting)
        for person in people:
            if self.records.get(f"p:{person.id}") is None:
                data = {**person.model_dump(exclude={"id", "connect_time"}), "uuid": person.id}
                record = {"data": data, "conference": conference, "order": [0.0, 0]}
                await self.records.put(f"p:{person.id}", {**record, "gone": False})
        return meeting

    async def _conference(
        self, event: Event, conference: str, watches: list[Watch], node: NodeView | None
    ) -> None:
        meeting = self.records.get(f"c:{conference}")
        start = event.data.get("start_time")
        if meeting is not None and meeting.get("ended"):
            if event.name != "conference_started" or start == meeting.get("start"):
                return  # about the instance that ended
            meeting = None
        if meeting is None:
            meeting = _new_meeting(start)
            if event.name != "conference_started":
                meeting = await self._catch_up(conference, meeting, node)
        nodes = set(meeting["nodes"])
        if event.name == "conference_ended":
            nodes.discard(event.node)
        else:
            nodes.add(event.node)
        meeting |= {
            "nodes": sorted(nodes),
            "locked": bool(event.data.get("is_locked", meeting.get("locked", False))),
            "started": bool(event.data.get("is_started", meeting.get("started", True))),
        }
        if meeting.get("start") is None and isinstance(start, int | float):
            meeting["start"] = start
        if event.name == "conference_ended" and not nodes:
            meeting |= {"ended": True, "end": event.data.get("end_time", event.time)}
        await self.records.put(f"c:{conference}", meeting)
        for watch in watches:
            if "started" in watch.show and (
                event.name == "conference_started" or meeting.get("ended")
            ):
                await self._notice(conference, meeting, watch)
            if "roster" in watch.show:
                await self._mark(await self._roster_key(conference, meeting, watch))
        if meeting.get("ended"):
            gone = [k for k in self.records.keys("p:") if self._of(k, conference)]
            await self._still_waiting_at_the_end(gone, watches)
            await self.records.drop(*gone, *(f"{INTENT}{key[2:]}" for key in gone))

    async def _still_waiting_at_the_end(self, people: list[str], watches: list[Watch]) -> None:
        """The people of a meeting that ended are gone, whether or not their
        `participant_disconnected` came (real nodes lose some): a lobby card still waiting
        says so as for a disconnect event (`_lobby`), without buttons."""
        for key in people:
            participant = self.records.get(key)
            if participant is None:
                continue
            for watch in watches:
                if "lobby" in watch.show:
                    await self._lobby(key[2:], {**participant, "gone": True}, watch)

    def _of(self, key: str, conference: str) -> bool:
        record = self.records.get(key)
        return record is not None and record["conference"] == conference

    async def _notice(self, conference: str, meeting: Record, watch: Watch) -> None:
        which = "ended" if meeting.get("ended") else "started"
        key = f"m:notice:{meeting['run']}:{which}:{watch.channel}"
        if self.records.get(key) is not None:
            return
        await self.records.put(key, {"channel": watch.channel, "conference": conference})
        await self._mark(key)

    async def _roster_key(self, conference: str, meeting: Record, watch: Watch) -> str:
        key = f"m:roster:{meeting['run']}:{watch.channel}"
        if self.records.get(key) is None:
            await self.records.put(key, {"channel": watch.channel, "conference": conference})
        return key

    async def _refresh_rosters(self, conference: str) -> None:
        meeting = self.records.get(f"c:{conference}")
        if meeting is None:
            return
        for key in self.records.keys(f"m:roster:{meeting['run']}:"):
            await self._mark(key)

    # --- sending (through the coalescer) -------------------------------------------------------

    async def _send(self, key: str) -> None:
        """Render the newest state this process knows and send it, unless a process has sent
        a newer version of the message already."""
        record = self.records.get(key)
        if record is None:
            return
        message = self._render(key, record)
        if message is None:
            return
        version = int(record.get("v", 0))

        async def deliver() -> None:
            if self.records.shared:
                await self._not_too_soon(key, version)
            await self._deliver(key, record, message)

        await self.versions.edit(key, version, deliver)

    async def _not_too_soon(self, key: str, version: int) -> None:
        """Several processes edit this message: one edit a window whoever sends it, so that the
        coalescing holds for the deployment, not only for each process (TooSoon: try later).
        Asked in the message's turn (`MessageEdits.edit`): asked before it, two processes both
        found the last edit a window old and both edited, one right after the other."""
        last = await self.versions.last_sent(key)
        if last is None or last[0] >= version:
            return  # never sent, or a newer version was (the edit is skipped)
        elapsed = (datetime.now(UTC) - last[1]).total_seconds()
        if 0 <= elapsed < self.edits.window:
            raise TooSoon(self.edits.window - elapsed)

    async def _deliver(self, key: str, record: Record, message: Message) -> None:
        """In the message's turn: edit it where it was posted, or post it (once)."""
        posted_at = await self.records.fresh(POSTED + key)
        ts = (posted_at or {}).get("ts") or record.get("ts")  # `ts`: as older versions kept it
        if ts:
            await self.web.chat_update(
                channel=record["channel"], ts=ts, text=message.text, blocks=message.blocks
            )
            return
        posted = await self.web.chat_postMessage(
            channel=record["channel"], text=message.text, blocks=message.blocks
        )
        await self.records.put_now(POSTED + key, {"ts": posted["ts"]})

    def _render(self, key: str, record: Record) -> Message | None:
        kind = key.split(":", 2)[1]
        if kind == "lobby":
            return lobby_card(record["data"], record)
        if kind == "roster":
            return self._roster(record["conference"])
        if kind == "notice":
            meeting = self.records.get(f"c:{record['conference']}") or {}
            return notice(record["conference"], meeting, ended=":ended:" in key)
        return None

    def _roster(self, conference: str) -> Message:
        meeting = self.records.get(f"c:{conference}") or {}
        people = [_participant(p["data"]) for p in self._people(conference)]
        if meeting.get("ended"):
            return blocks.message(
                render("{} has ended.", conference),
                [blocks.section(render("*{}* has ended.", conference))],
            )
        shown = Conference(
            id=conference,
            name=conference,
            is_locked=meeting.get("locked", False),
            is_started=meeting.get("started", True),
        )
        return blocks.participants_listing(
            shown, people, lambda person: row_buttons(person, ROSTER_BUTTONS, None)
        )


async def _read_node(services: Services, conference: str) -> NodeView:
    """The running conference and who is in it, as the status API says now."""
    try:
        running = await status.conference_by_name(services.pexip, conference)
        return running, await status.participants(services.pexip, conference)
    except errors.PexipError as exc:
        return exc


def _new_meeting(start: Any) -> Record:
    return {
        "run": uuid.uuid4().hex[:12],
        "nodes": [],
        "start": start if isinstance(start, int | float) else None,
        "peak": 0,
    }


def _order(event: Event) -> tuple[float, int]:
    return (event.time, event.seq)


def _in_room(person: Record) -> bool:
    return person["data"].get("service_type") in IN_THE_ROOM


def _participant(data: dict[str, Any]) -> Participant:
    fields = {key: value for key, value in data.items() if key != "connect_time"}
    return Participant.model_validate({**fields, "id": data.get("uuid") or "?"})


# --- what the messages say ------------------------------------------------------------------


def lobby_card(data: dict[str, Any], card: Record) -> Message:
    person = _participant(data)
    who, where = person.label, person.conference
    status = card["status"]
    if status == "waiting":
        line = render("*{}* is waiting to join *{}*.", who, where)
        rows: list[Block] = [blocks.section(line), blocks.note(_calls_in(person))]
        rows.append(ActionsBlock(block_id=f"lobby:{person.id}", elements=_card_buttons(person)))
        return blocks.message(line, rows)
    line = _outcome(status, who, where, card.get("by"))
    return blocks.message(
        line, [blocks.section(line), blocks.note(_calls_in(person)), DividerBlock()]
    )


def _outcome(status: str, who: str, where: str, by: str | None) -> Mrkdwn:
    if status == "admitted" and by:
        return render("{} was admitted to *{}* by {}.", who, where, mention(by))
    if status == "admitted":
        return render(
            "{} was admitted to *{}* elsewhere (Admin UI, another moderator or a host PIN).",
            who,
            where,
        )
    if status == "disconnected":
        return render(
            "{} was disconnected from the lobby of *{}* by {}.", who, where, mention(by or "")
        )
    return render("{} left the lobby of *{}* before being admitted.", who, where)


def _calls_in(person: Participant) -> Mrkdwn:
    alias = person.source_alias if person.call_direction != "out" else person.destination_alias
    parts = [part for part in (alias, person.protocol, person.system_location) if part]
    return render("Calls in as {}", " · ".join(parts) or "an unknown address")


def _card_buttons(person: Participant) -> list[ButtonElement]:
    ref = ParticipantRef(query=person.id)
    who = render("Disconnect {} from the lobby of {}?", person.label, person.conference)
    return [
        blocks.offered(REGISTRY.offer(Admit, "participant_admit"), Admit(participant=ref)),
        blocks.offered(
            REGISTRY.offer(Disconnect, "participant_disconnect"),
            Disconnect(participant=ref),
            confirm=("Disconnect?", who),
        ),
    ]


def notice(conference: str, meeting: Record, *, ended: bool) -> Message:
    if not ended:
        line = render("▶️ *{}* has started.", conference)
        return blocks.message(line, [blocks.section(line)])
    start, end = meeting.get("start"), meeting.get("end")
    took = (
        duration(end - start)
        if isinstance(start, int | float) and isinstance(end, int | float)
        else "an unknown time"
    )
    peak = meeting.get("peak", 0)
    line = render(
        "⏹️ *{}* has ended after {}; at most {} participant{} at once.",
        conference,
        took,
        peak,
        "" if peak == 1 else "s",
    )
    return blocks.message(line, [blocks.section(line)])


def duration(seconds: float) -> str:
    """`1 h 5 min`, `3 min`, `45 s`."""
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def install(services: Services, web: AsyncWebClient) -> LiveMeetings | None:
    """Consume the inbox's events when live meetings are on."""
    if services.events is None or services.live_records is None:
        return None
    editor = edit_client(web.token, web.base_url)
    live = LiveMeetings(services, editor, services.live_records)
    services.events.consumer = live
    return live
