"""Split slash-command text into tokens (`tokenize`), and write values back as text (`quote`).

The rules, as Slack delivers the text:

- Whitespace separates tokens.
- Double quotes group a value with spaces: `"`, and the curly “ ” „ ‟ Slack clients insert, all
  alike (any one closes any other). A quote that is never closed is an error.
- Single quotes (' ‘ ’) group only when a token (or an option's value) starts with one and a
  later one ends a token, so the apostrophes in O'Brien or O’Brien stay literal characters.
- `key=value` is an option when the key is typed bare (letters, digits, `_`, `-`); the value
  may be quoted: `name="Alice Parkes"`.
- Slack's `<target|label>` links and mentions become their label, else their target without
  `mailto:`; its `&amp;` `&lt;` `&gt;` escapes are undone.
- There is no backslash escaping.

`quote` is the inverse: bare when safe, else in double quotes, else in single quotes, else (a
value holding both a double quote and an apostrophe before a space) as a Slack link label.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

DOUBLE_QUOTES = frozenset('"“”„‟')
SINGLE_QUOTES = frozenset("'‘’")
KEYWORDS = frozenset({"in", "to"})

_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_LINK = re.compile(r"<([^<>]+)>")
_UNESCAPE = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
_ESCAPE = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


class UnclosedQuote(ValueError):
    """A double quote is never closed; `rest` is the text after it."""

    def __init__(self, rest: str) -> None:
        super().__init__("a double quote is never closed")
        self.rest = rest


@dataclass(frozen=True)
class Token:
    """One word of the command: its value, and how it was typed."""

    text: str
    bare: bool = True  # typed without quotes or links, so it may be a keyword
    key: str | None = None  # the option key as typed, when the token is `key=value`

    @property
    def shown(self) -> str:
        """The token as the user would recognise it (`key=value` for options)."""
        return self.text if self.key is None else f"{self.key}={self.text}"

    def is_keyword(self, word: str) -> bool:
        """Whether this is the bare keyword `word`, in any case."""
        return self.bare and self.key is None and self.text.lower() == word


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens; raise `UnclosedQuote` for a double quote never closed."""
    return list(_Lexer(text).tokens())


def quote(value: str) -> str:
    """Write `value` so that `tokenize` reads it back as one token with exactly that text."""
    text = _replace(value, _ESCAPE)
    if _is_bare_safe(text):
        return text
    if DOUBLE_QUOTES.isdisjoint(text):
        return f'"{text}"'
    if _is_single_safe(text):
        return f"'{text}'"
    return f"<_|{text}>"  # as the label of a Slack link, which may hold any text


def label(link: str) -> str:
    """What a Slack `<target|label>` link shows: its label, else its target minus `mailto:`."""
    target, _, shown = link.partition("|")
    return shown or target.removeprefix("mailto:")


class _Lexer:
    """A single left-to-right pass over the text."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._double = [i for i, char in enumerate(text) if char in DOUBLE_QUOTES]
        self._single_ends = [i for i, char in enumerate(text) if _ends_single(text, i)]

    def tokens(self) -> Iterator[Token]:
        while self._skip_space():
            yield self._token()

    def _skip_space(self) -> bool:
        while self._pos < len(self._text) and self._text[self._pos].isspace():
            self._pos += 1
        return self._pos < len(self._text)

    def _token(self) -> Token:
        parts: list[str] = []
        key: str | None = None
        bare, seen_equals = True, False
        while self._pos < len(self._text) and not self._text[self._pos].isspace():
            char = self._text[self._pos]
            if char == "=" and not seen_equals:
                seen_equals = True
                prefix = "".join(parts)
                if bare and _KEY.fullmatch(prefix):
                    key, parts = prefix, []
                    self._pos += 1
                    continue
            piece, plain = self._piece(char, at_start=not parts)
            parts.append(piece)
            bare = bare and plain
        return Token(_replace("".join(parts), _UNESCAPE), bare, key)

    def _piece(self, char: str, at_start: bool) -> tuple[str, bool]:
        """The text of the piece starting at the current position, and whether it is plain."""
        if char in DOUBLE_QUOTES:
            return self._quoted(self._double_end()), False
        if char in SINGLE_QUOTES and at_start:
            single_end = _first_after(self._single_ends, self._pos)
            if single_end is not None:
                return self._quoted(single_end), False
        link = _LINK.match(self._text, self._pos) if char == "<" else None
        if link is not None:
            self._pos = link.end()
            return label(link.group(1)), False
        self._pos += 1
        return char, True

    def _double_end(self) -> int:
        end = _first_after(self._double, self._pos)
        if end is None:
            raise UnclosedQuote(self._text[self._pos + 1 :])
        return end

    def _quoted(self, end: int) -> str:
        content = self._text[self._pos + 1 : end]
        self._pos = end + 1
        return _LINK.sub(lambda link: label(link.group(1)), content)


def _first_after(positions: list[int], pos: int) -> int | None:
    index = bisect.bisect_right(positions, pos)
    return positions[index] if index < len(positions) else None


def _ends_single(text: str, index: int) -> bool:
    """Whether a single quote at `index` can close a quoted value (it ends a token)."""
    after = index + 1
    return text[index] in SINGLE_QUOTES and (after == len(text) or text[after].isspace())


def _is_bare_safe(text: str) -> bool:
    return (
        bool(text)
        and text[0] not in SINGLE_QUOTES
        and text.lower() not in KEYWORDS
        and not any(char.isspace() or char in DOUBLE_QUOTES or char == "=" for char in text)
    )


def _is_single_safe(text: str) -> bool:
    return not any(_ends_single(text, i) for i in range(len(text) - 1))


def _replace(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for old, new in pairs:
        text = text.replace(old, new)
    return text
