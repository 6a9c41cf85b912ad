"""Slack mrkdwn: the one place text from outside the bot is made literal.

Every message is our own wording (which may use mrkdwn: `*bold*`, `code`, a `<@U…>` mention of
the person acting) with strings from outside in it: guest display names, aliases, conference
and file names, what a user typed, the node's words. `Mrkdwn` marks text that is ready for
Slack; `render` builds it from a template, passing every value that is not already `Mrkdwn`
through `literal`. At the boundary (`as_mrkdwn`, used by `bot.slack.replies.Message` and every
other poster) a plain `str` is outside text and is made literal whole. So a string that was
never rendered can at worst show our own markup literally; it can never ping or link.

How `literal` keeps a string literal in mrkdwn, which has no escape character:
- `&`, `<`, `>` become `&amp;`, `&lt;`, `&gt;` (Slack's own escapes; shown as the characters),
  so no `<!channel>`, `<@U…>`, `<#C…>` or `<https://…|label>` can form. A leading `>` gets a
  zero-width space before it, so it cannot start a block quote.
- The formatting marks `*`, `~` and the backtick become their fullwidth lookalikes (＊ ～ ｀), and
  so does `_` where Slack could read it as italics, i.e. unless letters or digits stand on both
  sides (`VMR_1` and `first_last` stay as they are: names like these are everywhere, and Slack
  opens italics only at a word boundary). Fullwidth forms fold back to the ASCII marks under
  NFKC, so a name pasted back from a message still matches (`bot.pexip.resolve`).
- At most `MAX_VALUE` characters of one string are shown, then "…".
- Line breaks and other control characters become spaces (no fake lines, no quotes), and
  bidirectional embeddings, overrides and isolates (U+202A–E, U+2066–9) are dropped, so a
  right-to-left override in a name cannot reorder our wording around it. Zero-width joiners and
  spaces stay: they change no meaning (emoji sequences need them).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from bot.slack.limits import clip, units

# Where a block allows 3,000 characters and `text` 40,000, a message stays well inside both.
MAX_TEXT = 3000
# One outside string is shown up to this many characters: a 10,000-character display name
# must not push the rest of the message (who acted, where) past MAX_TEXT.
MAX_VALUE = 300

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LOOKALIKE = {"*": "＊", "_": "＿", "~": "～", "`": "｀"}
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_MARKS = re.compile(r"[*_~`]")
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")


class Mrkdwn(str):
    """Text ready for Slack: our wording, every outside string in it made literal. `plain` is
    the same text with the outside strings as they were (for logs and the audit log)."""

    plain: str

    def __new__(cls, text: str, plain: str | None = None) -> Mrkdwn:
        made = super().__new__(cls, text)
        made.plain = text if plain is None else plain
        return made


def plain(text: str) -> str:
    """`text` without the escaping: for the audit log and logs, not for Slack."""
    return text.plain if isinstance(text, Mrkdwn) else text


def _is_word(char: str) -> bool:
    return char.isalnum()


def _mark(match: re.Match[str]) -> str:
    text, at = match.string, match.start()
    char = match.group()
    inside = 0 < at < len(text) - 1 and _is_word(text[at - 1]) and _is_word(text[at + 1])
    return char if inside and char == "_" else _LOOKALIKE[char]


def _flat(text: str) -> str:
    """One line, no control characters, no bidi embeddings/overrides/isolates."""
    text = text.translate(_BIDI_CONTROLS)
    return "".join(
        " " if unicodedata.category(c) == "Cc" or c in "\u2028\u2029" else c for c in text
    )


def literal(text: str) -> Mrkdwn:
    """The one escape: `text` from outside, shown exactly as characters, never as markup."""
    flat = _flat(text)
    if len(flat) > MAX_VALUE:
        flat = flat[: MAX_VALUE - 1] + "…"
    flat = _MARKS.sub(_mark, flat)
    escaped = "".join(_ENTITIES.get(c, c) for c in flat)
    if escaped.lstrip().startswith("&gt;"):
        escaped = "\u200b" + escaped
    return Mrkdwn(escaped, text)


def as_mrkdwn(text: str) -> Mrkdwn:
    """The boundary: rendered text passes, any other string is outside text made literal;
    capped at `MAX_TEXT` characters."""
    ready = text if isinstance(text, Mrkdwn) else literal(text)
    return shorten(ready, MAX_TEXT)


def shorten(text: Mrkdwn, limit: int) -> Mrkdwn:
    """At most `limit` UTF-16 units (`bot.slack.limits`), ending in "…" if cut; never inside
    an escape (`&lt;`) or a mention, which a cut would leave as a bare `&` or `<`."""
    if units(text) <= limit:
        return text
    cut = clip(text, limit)[:-1]  # Slack's own measure (UTF-16 units), without its "…"
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return Mrkdwn(cut + "…", text.plain)


def _value(value: Any) -> Mrkdwn:
    return value if isinstance(value, Mrkdwn) else literal(str(value))


def _plain_value(value: Any) -> str:
    return plain(value) if isinstance(value, str) else str(value)


class _Formatter(string.Formatter):
    def __init__(self, field: Callable[[Any], str]) -> None:
        self.field = field

    def format_field(self, value: Any, format_spec: str) -> str:
        return self.field(value if not format_spec else format(value, format_spec))


_MARKUP = _Formatter(_value)
_PLAIN = _Formatter(_plain_value)


def render(template: str, /, *args: Any, **values: Any) -> Mrkdwn:
    """`template` (our wording, may use mrkdwn) with `{}` fields filled: a `Mrkdwn` value as
    it is, anything else made literal."""
    return Mrkdwn(
        _MARKUP.format(template, *args, **values), _PLAIN.format(template, *args, **values)
    )


def join(separator: str, parts: Iterable[Any]) -> Mrkdwn:
    """Parts joined by `separator` (our wording); parts not yet rendered are made literal."""
    rendered = [_value(part) for part in parts]
    return Mrkdwn(separator.join(rendered), separator.join(part.plain for part in rendered))


def mention(user_id: str) -> Mrkdwn:
    """`<@U…>`: the person acting, named by Slack's id (anything else is shown literally)."""
    return Mrkdwn(f"<@{user_id}>") if _USER_ID.fullmatch(user_id) else literal(user_id)


def channel(channel_id: str) -> Mrkdwn:
    """`<#C…>`: a channel named by Slack's id (anything else is shown literally)."""
    return Mrkdwn(f"<#{channel_id}>") if _CHANNEL_ID.fullmatch(channel_id) else literal(channel_id)


def code(text: str) -> Mrkdwn:
    """`text` in a code span, literal: Slack does not format inside one, so only `&`, `<`, `>`
    are escaped, and a backtick (which would end the span) becomes ｀."""
    if not text:
        return Mrkdwn('`""`')
    inside = "".join(_ENTITIES.get(c, c) for c in _flat(text).replace("`", _LOOKALIKE["`"]))
    return Mrkdwn(f"`{inside}`", f"`{text}`")


def bold(text: str) -> Mrkdwn:
    value = _value(text)
    return Mrkdwn(f"*{value}*", f"*{value.plain}*")
