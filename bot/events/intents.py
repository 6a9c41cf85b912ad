"""Who just asked the node to admit or disconnect whom, so that a lobby card can say "admitted
by" that person when the node's event confirms it (and "admitted elsewhere" otherwise)."""

from __future__ import annotations

import time
from dataclasses import dataclass

ATTRIBUTION_SECONDS = 30.0
"""An event this long after the command no longer counts as its effect."""


@dataclass(frozen=True)
class Intent:
    word: str
    user_id: str
    at: float


class Intents:
    """Recent commands on participants, by participant id (this process's own)."""

    def __init__(self) -> None:
        self._recent: dict[str, Intent] = {}

    def note(self, word: str, participant_id: str, user_id: str) -> None:
        now = time.monotonic()
        self._recent = {
            key: intent
            for key, intent in self._recent.items()
            if now - intent.at < ATTRIBUTION_SECONDS
        }
        self._recent[participant_id] = Intent(word, user_id, now)

    def who(self, word: str, participant_id: str) -> str | None:
        """The user who sent `word` on this participant within the attribution window."""
        intent = self._recent.get(participant_id)
        if intent is None or intent.word != word:
            return None
        return intent.user_id if time.monotonic() - intent.at < ATTRIBUTION_SECONDS else None
