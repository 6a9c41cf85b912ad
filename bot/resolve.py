"""Turn what a moderator typed into the one participant or conference meant (INTERFACE §4).

A participant is an id, or a name matched case-insensitively against display name and aliases:
exact matches first, then substrings; optionally narrowed with `in <conference>`. No match is a
`NoMatch`, several an `Ambiguous` carrying the candidates so the user can pick one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.pexip import errors, lookup, status
from bot.pexip.client import PexipClient
from bot.pexip.models import Conference, Participant


class NoMatch(Exception):
    """Nothing matches what the user typed; the message says what was looked for, `listing`
    the command that lists what there is."""

    def __init__(self, message: str, listing: str = "conferences") -> None:
        super().__init__(message)
        self.listing = listing


class Ambiguous(Exception):
    """Several participants match; the user picks one."""

    def __init__(self, query: str, candidates: list[Participant]) -> None:
        super().__init__(f"{len(candidates)} participants match {query!r}")
        self.query = query
        self.candidates = candidates


@dataclass(frozen=True)
class ParticipantQuery:
    text: str
    conference: str | None = None


def _strip_scheme(alias: str) -> str:
    scheme, sep, rest = alias.partition(":")
    return (
        rest
        if sep and scheme.lower() in ("sip", "h323", "tel", "mssip", "rtmp", "rtmps")
        else alias
    )


def _names(participant: Participant) -> list[str]:
    names = [participant.display_name, *participant.aliases]
    names += [_strip_scheme(alias) for alias in participant.aliases]
    return [name.casefold() for name in names if name]


def match_participants(pool: list[Participant], text: str) -> list[Participant]:
    """Exact (case-insensitive) matches if any, else every substring match."""
    wanted = text.strip().casefold()
    exact = [p for p in pool if wanted in _names(p)]
    return exact or [p for p in pool if any(wanted in name for name in _names(p))]


async def find_conference(client: PexipClient, text: str) -> Conference:
    try:
        return await lookup.find_running_conference(client, text)
    except errors.NotFound as exc:
        raise NoMatch(exc.message) from None


async def find_participant(client: PexipClient, query: ParticipantQuery) -> Participant:
    """The one participant meant, or NoMatch / Ambiguous."""
    if lookup.is_uuid(query.text):
        try:
            return await status.participant_by_id(client, query.text)
        except errors.NotFound:
            raise NoMatch(f"no participant has the id {query.text}: they may have left") from None
    where = ""
    if query.conference is not None:
        conference = await find_conference(client, query.conference)
        pool = await status.participants(client, conference.name)
        where = f" in {conference.name}"
    else:
        pool = await status.participants(client)
    found = match_participants(pool, query.text)
    if not found:
        raise NoMatch(f"no participant matching {query.text!r}{where}")
    if len(found) > 1:
        raise Ambiguous(query.text, found)
    return found[0]
