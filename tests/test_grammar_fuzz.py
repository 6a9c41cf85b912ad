"""Properties of the grammar over arbitrary text: it never fails but with a clean `UsageError`,
and what it parses it can write back."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.commands import CALL_TYPES, PROTOCOLS, ROLES, BaseCommand
from handlers.dialling import Dial
from handlers.grammar import COMMAND_WORDS, UsageError, parse
from handlers.tokens import quote, tokenize

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOISE = ("Traceback", "pydantic", "ValidationError", "input_value", "Error(", "\\x", "None", "'")
ECHOED = re.compile(r"`[^`]*`")  # what the user typed, echoed back as code

# Words that steer the parser into its interesting corners, mixed with arbitrary text.
FRAGMENTS = st.one_of(
    st.sampled_from(COMMAND_WORDS),
    st.sampled_from(
        ["in", "IN", "to", "now", "list", "restore", "chair", "video-only", "10.0.0.5"]
    ),
    st.sampled_from(['"', "“", "”", "„", "'", "‘", "’", "<", ">", "|", "=", "&amp;", "&lt;", "`"]),
    st.sampled_from(
        ["<mailto:a@b.example|a@b.example>", "<@U123|alice>", "<sip:x@y|x@y>", "<!here>"]
    ),
    st.sampled_from(["role=", "protocol=", "call_type=", "location=", "node=", "name=", "x="]),
    st.sampled_from(["O'Brien", "::1", "fe80::1%eth0", "[::1]", "2147483648", "٣", "0" * 20]),
    st.text(max_size=12),
)
SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", ""])


@st.composite
def command_like(draw: st.DrawFn) -> str:
    """Text that often looks like a command: fragments joined by assorted spaces."""
    pieces = draw(st.lists(st.tuples(FRAGMENTS, SPACES), max_size=12))
    return "".join(fragment + space for fragment, space in pieces)


ANY_TEXT = st.one_of(
    st.text(),
    command_like(),
    st.builds("{} {}".format, st.sampled_from(COMMAND_WORDS), command_like()),
    # a few KB: a short text repeated (cheaper to draw than a long one)
    st.tuples(command_like() | st.text(min_size=1), st.integers(1, 400)).map(
        lambda piece_times: (piece_times[0] * piece_times[1])[:4000]
    ),
)


def parse_or_error(text: str) -> BaseCommand | UsageError:
    try:
        return parse(text, slash="/av")
    except UsageError as error:
        return error


@FUZZ
@given(ANY_TEXT)
def test_any_text_gives_a_command_or_a_clean_usage_error(text: str) -> None:
    result = parse_or_error(text)
    if isinstance(result, BaseCommand):
        return
    assert result.message.strip()
    assert "`/av " in result.message
    ours = ECHOED.sub("", result.message)
    assert not any(noise in ours for noise in NOISE), result.message
    assert result.command is None or result.command in COMMAND_WORDS
    assert len(result.message) < 1200


@FUZZ
@given(ANY_TEXT)
def test_whatever_parses_writes_back_to_text_that_parses_the_same(text: str) -> None:
    result = parse_or_error(text)
    if isinstance(result, BaseCommand):
        assert parse(result.to_text()) == result


# Values a user can type: no control characters (they are refused), no surrounding whitespace.
VALUES = (
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
)


@FUZZ
@given(
    st.builds(
        Dial,
        conference_alias=VALUES,
        destination=VALUES,
        role=st.sampled_from(ROLES),
        protocol=st.sampled_from(PROTOCOLS),
        call_type=st.sampled_from(CALL_TYPES),
        location=st.none() | VALUES,
        node=st.none() | st.ip_addresses(),
        name=st.none() | VALUES,
    )
)
def test_any_dial_round_trips_through_text(command: Dial) -> None:
    assert parse(command.to_text()) == command


@FUZZ
@given(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=60))
def test_quote_writes_any_value_as_exactly_one_token(value: str) -> None:
    assert [token.text for token in tokenize(quote(value))] == [value]


def test_control_characters_are_refused_but_whitespace_separates() -> None:
    for char in map(chr, range(0x00, 0xA0)):
        if unicodedata.category(char) == "Cc":
            result = parse_or_error(f"mute a{char}b")
            assert isinstance(result, UsageError) != char.isspace(), repr(char)
