"""Slack's size limits on what the bot builds, and clipping text to them.

Slack refuses a whole message when one field is too long, so a guest's 170-emoji display name
once broke the roster for every moderator. Lengths are measured as Slack's clients measure
them, in UTF-16 code units (an emoji counts 2), which is never less than what slack_sdk checks
(code points); text is cut between code points and the cut marked with `…`.
"""

from __future__ import annotations

BUTTON_VALUE = 2000
BUTTON_TEXT = 75
SECTION_TEXT = 3000
CONTEXT_TEXT = 3000
HEADER_TEXT = 150
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
BLOCKS = 50
MESSAGE_TEXT = 40_000


def units(text: str) -> int:
    """The length Slack counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit` units, else its longest prefix that fits with `…` after."""
    if units(text) <= limit:
        return text
    room = limit - 1  # "…" is one unit
    kept = []
    for char in text:
        width = 2 if ord(char) > 0xFFFF else 1
        if width > room:
            break
        kept.append(char)
        room -= width
    return "".join(kept) + "…"
