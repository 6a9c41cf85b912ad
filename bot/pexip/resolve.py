"""Turn what a moderator typed into the one participant or conference meant (INTERFACE §4).

A participant is an id, or a name matched case-insensitively against display name and aliases:
exact matches first, then substrings; optionally narrowed with `in <conference>`. No match is a
`NoMatch`, several an `Ambiguous` carrying the candidates so the user can pick one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from bot.pexip import errors, lookup, status
from bot.pexip.client import PexipClient
from bot.pexip.models import Conference, ConfiguredConference, Participant


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


class IdleConference(NoMatch):
    """What was typed is an alias of a configured conference that is not running."""

    def __init__(self, message: str, service: ConfiguredConference) -> None:
        super().__init__(message)
        self.service = service


Visible = Callable[[str], bool]
"""Whether the person may see participants of the conference with this name (their scope)."""
SCOPED_SUFFIX = " in the conferences you moderate"


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
    return [_folded(name) for name in names if name]


def _folded(text: str) -> str:
    """Compared case-insensitively and under NFKC, so a name copied from a message (where
    `bot.slack.mrkdwn.literal` shows `*` `_` `~` as fullwidth lookalikes) still matches."""
    return unicodedata.normalize("NFKC", text).casefold()


def match_participants(pool: list[Participant], text: str) -> list[Participant]:
    """Exact (case-insensitive) matches if any, else every substring match."""
    wanted = _folded(text.strip())
    exact = [p for p in pool if wanted in _names(p)]
    return exact or [p for p in pool if any(wanted in name for name in _names(p))]


async def find_conference(client: PexipClient, text: str) -> Conference:
    try:
        return await lookup.find_running_conference(client, text)
    except lookup.NotRunning as exc:
        raise IdleConference(exc.message, exc.service) from None
    except errors.NotFound as exc:
        raise NoMatch(exc.message) from None


async def find_participant(
    client: PexipClient,
    text: str,
    *,
    within: Conference | None = None,
    visible: Visible | None = None,
) -> Participant:
    """The one participant meant, or NoMatch / Ambiguous.

    With `visible` (a scoped moderator), participants of other conferences are dropped before
    matching, so nothing said (no match, the choices) depends on them, and the node calls are
    the same whether or not they exist."""
    suffix = SCOPED_SUFFIX if visible is not None else ""
    if lookup.is_uuid(text):
        try:
            found = await status.participant_by_id(client, text)
        except errors.NotFound:
            found = None
        if found is None or (visible is not None and not visible(found.conference)):
            raise NoMatch(f"no participant has the id {text}{suffix}: they may have left")
        return found
    where = suffix
    if within is not None:
        pool = await status.participants(client, within.name)
        where = f" in {within.name}"
    else:
        pool = await status.participants(client)
    if visible is not None:
        pool = [participant for participant in pool if visible(participant.conference)]
    found_all = match_participants(pool, text)
    if not found_all:
        raise NoMatch(f"no participant matching {text!r}{where}")
    if len(found_all) > 1:
        raise Ambiguous(text, found_all)
    return found_all[0]
