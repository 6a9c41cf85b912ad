"""Who just asked the node to admit or disconnect whom, so that a lobby card can say "admitted
by" that person when the node's event confirms it (and "admitted elsewhere" otherwise).

With live meetings on, the intent is a row of the live records (`i:<participant id>`, written
before the command goes to the node): the event that confirms it may reach another process
than the click did (INTERFACE §10). Without them, this process's memory is enough.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.events.records import LiveRecords

ATTRIBUTION_SECONDS = 30.0
"""An event this long after the command no longer counts as its effect."""
ATTRIBUTED = frozenset({"admit", "disconnect"})
"""The commands a lobby card names the sender of."""
PREFIX = "i:"


@dataclass(frozen=True)
class Intent:
    word: str
    user_id: str
    at: float  # time.time(): compared across processes and hosts


class Intents:
    """Recent admit / disconnect commands, by participant id."""

    def __init__(self, records: LiveRecords | None = None) -> None:
        self._records = records
        self._recent: dict[str, Intent] = {}

    async def note(self, word: str, participant_id: str, user_id: str) -> None:
        """Before the command is sent: `user_id` asks the node to `word` this participant."""
        if word not in ATTRIBUTED:
            return
        now = time.time()
        if self._records is None:
            self._recent = {k: i for k, i in self._recent.items() if _recent(i, now)}
            self._recent[participant_id] = Intent(word, user_id, now)
            return
        await self._records.load()
        records = self._records
        stale = [key for key in records.keys(PREFIX) if not _recent(_intent(records.get(key)), now)]
        if stale:
            await self._records.drop(*stale)
        intent = {"word": word, "user": user_id, "at": now}
        await self._records.put_now(PREFIX + participant_id, intent)

    async def who(self, word: str, participant_id: str) -> str | None:
        """The user who sent `word` on this participant within the attribution window (asked
        of the database: the command may have gone through another process)."""
        if self._records is None:
            intent = self._recent.get(participant_id)
        else:
            intent = _intent(await self._records.fresh(PREFIX + participant_id))
        if intent is None or intent.word != word or not _recent(intent, time.time()):
            return None
        return intent.user_id


def _intent(found: dict[str, object] | None) -> Intent | None:
    if not found:
        return None
    at = found.get("at")
    when = float(at) if isinstance(at, int | float) else 0.0
    return Intent(str(found.get("word")), str(found.get("user")), when)


def _recent(intent: Intent | None, now: float) -> bool:
    return intent is not None and now - intent.at < ATTRIBUTION_SECONDS
