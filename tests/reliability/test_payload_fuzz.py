"""Arbitrary slash commands, button clicks, form submissions and options requests, correctly
signed and sent to the bot's real endpoint: never a 5xx, never an unhandled exception, never a
command to the management node for an invalid one, and always an answer the user can act on
(a usage message or a denial, never "something went wrong inside pexbot").

The grammar itself is fuzzed in tests/test_grammar_fuzz.py; these fuzz the payload layer:
the envelope Slack wraps around the text, the button values, the form state and metadata."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.grammar import UsageError, parse
from handlers.listeners import CONFIRM
from handlers.modals import CONFERENCE_OPTIONS, DIAL_CALLBACK, TRANSFER_CALLBACK
from handlers.registry import REGISTRY
from tests.fixtures.bot import ADMIN, CHANNEL, STRANGER, TEAM, VIEWER
from tests.reliability.conftest import Launch, SecretBot, Stack, Tally

EXAMPLES = 100
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANSWER_WITHIN = 5.0
INTERNAL = "something went wrong inside pexbot"
USERS = st.sampled_from([ADMIN, VIEWER, STRANGER])
KNOWN_ALIASES = ("meet@example.com", "vmr1@meet.example.com", "vmr2@meet.example.com")

# --- strategies --------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TEXT = st.text(max_size=60) | st.text(alphabet="\"“”'‘’<>|&=`@#:; \t\n", max_size=20)
# Command lines that cannot be valid: a command word with its arguments missing or wrong, or a
# first word that no command has (a leading "#" survives every quoting and link rule).
INVALID_LINES = st.one_of(
    st.sampled_from(
        [
            "mute",
            "lock",
            "participants",
            "transfer Bob",
            "transfer Bob to",
            "sync",
            "sync x",
            "backup",
            "backup restore",
            "end",
            "dial meet@example.com",
            "dial meet@example.com bob node=host.example.com",
            "dial meet@example.com bob role=owner",
            'mute "Bob',
            "help nothing",
        ]
    ),
    st.builds("#{}".format, TEXT),
)
VALID_LINES = st.sampled_from(["help", "whoami", "conferences", "participants VMR_1", "help mute"])
# What a button carries: the typed command as compact JSON (`handlers.registry.encode`).
VALID_VALUES = st.sampled_from(
    [
        {"c": "help"},
        {"c": "whoami"},
        {"c": "conferences"},
        {"c": "participants", "a": {"conference": "VMR_1"}},
        {"c": "help", "a": {"topic": "mute"}},
    ]
)
# Values no command validates: a command's text (as buttons of older versions carried), a key
# no command has, arguments missing, of the wrong type or not declared.
INVALID_VALUES = st.one_of(
    st.builds(lambda line: {"c": line}, INVALID_LINES),
    st.builds(lambda key, args: {"c": key, "a": args}, st.text(max_size=12), JSON),
    st.sampled_from(
        [
            {"c": "mute"},
            {"c": "mute", "a": {"participant": "Bob"}},
            {"c": "lock", "a": {"conference": ""}},
            {"c": "sync", "a": {"template_id": "x"}},
            {"c": "sync", "a": {"template_id": 0}},
            {"c": "end", "a": {"conference": "VMR_1", "force": True}},
            {"c": "transfer form", "a": {"label": "Bob"}},
            {"c": "participants", "a": {"conference": "VMR_1"}, "r": {"c": "nothing"}},
        ]
    ),
)


@st.composite
def button_values(draw: st.DrawFn) -> tuple[str, bool]:
    """(value, whether it is invalid by construction)."""
    kind = draw(st.sampled_from(["line", "bare", "json", "refresh", "valid"]))
    if kind == "line":
        return json.dumps(draw(INVALID_VALUES)), True
    if kind == "bare":
        return draw(INVALID_LINES), True
    if kind == "json":  # JSON whose text starts with no letter: no command word
        value = json.dumps(draw(JSON))
        return value, not value[:1].isalpha()
    if kind == "refresh":
        refresh = draw(TEXT | st.sampled_from(["conferences", "participants VMR_1"]))
        return json.dumps({**draw(INVALID_VALUES), "r": refresh}), True
    return json.dumps(draw(VALID_VALUES)), False


ACTION_IDS = st.sampled_from(
    [*REGISTRY.action_ids, CONFIRM, "pick_0", "pick_7", "cancel", "participant_transfer"]
)


def nothing_after(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@st.composite
def broken(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with keys taken away or given the wrong type."""
    for key in draw(st.lists(st.sampled_from(sorted(payload)), max_size=3, unique=True)):
        if draw(st.booleans()):
            payload = nothing_after(payload, key)
        else:
            payload = {**payload, key: draw(JSON)}
    return payload


# --- sending -----------------------------------------------------------------------------------


class Probe:
    """Sends one fuzzed request at a time and watches what follows it."""

    def __init__(self, bot: SecretBot, stack: Stack) -> None:
        self.bot = bot
        self.stack = stack
        self.state = stack.slack.state
        self.control = stack.node.control
        self.count = 0
        self.errors_before = len(stack.watch.errors)

    def start(self) -> str:
        """A fresh example: Slack and the node counters forgotten; a channel of its own."""
        self.stack.fresh_slack()
        self.control.reset_stats()
        self.count += 1
        return f"C0FUZZ{self.count:03d}"

    def response_url(self, channel: str, user: str) -> str:
        return self.stack.slack.response_url(channel, channel=channel, user=user)

    def answers(self, timeout: float = ANSWER_WITHIN) -> list[Any]:
        """What Slack got from the bot for this example (waits for the first of it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = [c for c in self.state.calls() if c.method not in ("auth.test", "users.info")]
            if calls:
                time.sleep(0.005)  # anything that goes with it (a form's update, a refresh)
                return self.state.messages() or calls
            time.sleep(0.005)
        return []

    def node_commands(self) -> list[Any]:
        return self.control.stats()["commands"]

    def node_requests(self) -> int:
        return self.control.stats()["requests_total"]

    def no_errors_logged(self) -> None:
        logged = self.stack.watch.errors[self.errors_before :]
        assert logged == [], "\n".join(logged)


@pytest.fixture(scope="module")
def bot(launch: Launch) -> SecretBot:
    return launch()


@pytest.fixture
def probe(bot: SecretBot, stack: Stack, simulator: Any, slack_api: Any) -> Iterator[Probe]:
    checking = Probe(bot, stack)
    yield checking
    deadline = time.monotonic() + 5
    while bot.runtime.services.following_up and time.monotonic() < deadline:
        time.sleep(0.05)  # dialled calls being followed: let them end before the next test
    checking.no_errors_logged()
    assert bot.healthz() == 200


def said_to_the_user(answers: list[Any]) -> list[str]:
    return [m.text for m in answers if hasattr(m, "text") and not m.delete_original]


def usage_or_denial(texts: list[str]) -> bool:
    """A usage message, a denial, or "that button is out of date" (a value no command takes)."""
    return any(t.startswith((":warning:", ":no_entry:", ":hourglass:")) for t in texts)


def invalid(text: str) -> bool:
    """The grammar's verdict (itself fuzzed in tests/test_grammar_fuzz.py)."""
    try:
        parse(text)
    except UsageError:
        return True
    return False


# --- slash commands ----------------------------------------------------------------------------

SLASH_TEXT = st.one_of(
    TEXT,
    INVALID_LINES,
    VALID_LINES,
    st.builds("{} {}".format, st.sampled_from(["participants", "mute", "lock"]), TEXT),
    st.sampled_from(["payload", "participants payload", "mute payload=1", "payload={}"]),
    st.text(min_size=2000, max_size=4000),
)


@FUZZ
@given(text=SLASH_TEXT, user=USERS, drop=st.sets(st.sampled_from(["trigger_id", "team_id"])))
def test_any_slash_command_text_gets_an_answer_and_invalid_text_no_node_call(
    probe: Probe, tally: Tally, text: str, user: str, drop: set[str]
) -> None:
    channel = probe.start()
    form = {
        "command": "/pexip",
        "text": text,
        "user_id": user,
        "channel_id": channel,
        "team_id": TEAM,
        "response_url": probe.response_url(channel, user),
        "trigger_id": f"trigger-{channel}",
    }
    response = probe.bot.slack.post(urlencode({k: v for k, v in form.items() if k not in drop}))
    tally.inputs_fuzzed += 1

    assert response.status_code == 200
    said = said_to_the_user(probe.answers())
    assert said, f"no answer to {text!r}"
    assert not any(INTERNAL in t for t in said), said
    if invalid(text):
        assert usage_or_denial(said), said
        assert probe.node_requests() == 0


def test_a_command_that_mentions_the_word_payload_is_answered(probe: Probe) -> None:
    """Bolt reads any form holding the text "payload" as an interaction (and finds nothing)."""
    channel = probe.start()

    response = probe.bot.slack.command("participants payload-review", user=ADMIN, channel=channel)

    assert response.status_code == 200
    assert said_to_the_user(probe.answers()) == [
        ":mag: No running conference matching payload-review (by name or alias). "
        "Try `/pexip conferences` to see who is where."
    ]


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "command",
                "text",
                "user_id",
                "channel_id",
                "response_url",
                "payload",
                "ssl_check",
                "type",
            ]
        ),
        TEXT,
        max_size=5,
    )
)
def test_a_signed_form_of_random_fields_is_never_a_server_error(
    probe: Probe, tally: Tally, fields: dict[str, str]
) -> None:
    probe.start()

    response = probe.bot.slack.post(urlencode(fields))
    tally.inputs_fuzzed += 1

    assert response.status_code < 500
    assert probe.node_commands() == []


# --- button clicks -----------------------------------------------------------------------------


def click_payload(
    probe: Probe, channel: str, user: str, action_id: str, value: str
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "team": {"id": TEAM},
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
        "trigger_id": f"trigger-{channel}",
        "response_url": probe.response_url(channel, user),
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value}],
    }


@FUZZ
@given(action_id=ACTION_IDS, value=button_values(), user=USERS)
def test_any_button_value_gets_an_answer_and_an_invalid_one_no_node_call(
    probe: Probe, tally: Tally, action_id: str, value: tuple[str, bool], user: str
) -> None:
    channel = probe.start()
    text, is_invalid = value

    response = probe.bot.slack.interact(click_payload(probe, channel, user, action_id, text))
    tally.inputs_fuzzed += 1

    assert response.status_code == 200
    answers = probe.answers()
    assert answers, f"no answer to {action_id} {text!r}"
    said = said_to_the_user(answers)
    assert not any(INTERNAL in t for t in said), said
    if action_id == "cancel":
        assert [m.delete_original for m in answers] == [True]
    elif is_invalid or action_id == "participant_transfer":  # none of these is a Transfer form
        assert usage_or_denial(said), said
        assert probe.node_requests() == 0
    if is_invalid:
        assert probe.node_commands() == []


@FUZZ
@given(
    payload=st.builds(
        lambda action_id, value: (action_id, value),
        ACTION_IDS | st.text(max_size=10),
        button_values(),
    ).flatmap(
        lambda picked: broken(
            {
                "type": "block_actions",
                "user": {"id": ADMIN},
                "team": {"id": TEAM},
                "channel": {"id": CHANNEL},
                "actions": [{"action_id": picked[0], "value": picked[1][0]}],
            }
        )
    )
)
def test_a_broken_click_is_never_a_server_error_nor_a_node_command(
    probe: Probe, tally: Tally, payload: dict[str, Any]
) -> None:
    probe.start()

    response = probe.bot.slack.interact(payload)
    tally.inputs_fuzzed += 1

    assert response.status_code < 500
    if response.status_code == 200:
        time.sleep(0.02)  # the time a listener would need to reach the node
    assert probe.node_commands() == []


# --- form submissions --------------------------------------------------------------------------

STATE_VALUE = st.one_of(
    st.fixed_dictionaries({"value": TEXT | st.sampled_from(KNOWN_ALIASES)}),
    st.fixed_dictionaries(
        {"selected_option": st.fixed_dictionaries({"value": TEXT | st.sampled_from(KNOWN_ALIASES)})}
    ),
    JSON,
)
DIAL_BLOCKS = ["conference", "destination", "protocol", "role", "call_type", "location", "name"]
TRANSFER_BLOCKS = ["to_alias", "role"]


@st.composite
def views(draw: st.DrawFn, channel: str) -> tuple[dict[str, Any], bool]:
    """(a form as submitted, whether it was broken on the way)."""
    callback = draw(st.sampled_from([DIAL_CALLBACK, TRANSFER_CALLBACK]))
    blocks = DIAL_BLOCKS if callback == DIAL_CALLBACK else TRANSFER_BLOCKS
    state = {
        block: {draw(st.sampled_from(["value", "x"])): draw(STATE_VALUE)}
        for block in draw(st.lists(st.sampled_from(blocks), unique=True))
    }
    metadata = draw(
        st.one_of(
            st.just(json.dumps({"channel": channel, "participant": draw(TEXT)})),
            st.builds(json.dumps, JSON),
            TEXT,
        )
    )
    view: dict[str, Any] = {
        "id": "V0FUZZ001",
        "type": "modal",
        "callback_id": callback,
        "private_metadata": metadata,
        "state": {"values": state},
    }
    if draw(st.booleans()):
        return draw(broken(view)), True
    return view, False


def submitted(payload: dict[str, Any]) -> set[str]:
    values = json.dumps(payload.get("view", {}))
    return {alias for alias in KNOWN_ALIASES if alias in values}


@FUZZ
@given(data=st.data(), user=USERS)
def test_any_form_submission_is_answered_inline_or_after_and_never_sends_an_invalid_command(
    probe: Probe, tally: Tally, data: st.DataObject, user: str
) -> None:
    channel = probe.start()
    view, is_broken = data.draw(views(channel))
    payload = {
        "type": "view_submission",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "team": {"id": TEAM},
        "trigger_id": f"trigger-{channel}",
        "view": view,
    }

    response = probe.bot.slack.interact(payload)
    tally.inputs_fuzzed += 1

    if is_broken and response.status_code != 200:
        assert response.status_code == 400  # not a form at all (an unknown one is acknowledged)
        assert probe.node_commands() == []
        return
    assert response.status_code == 200
    if response.content:
        answer = response.json()
        assert answer["response_action"] == "errors"
        assert answer["errors"] and all(isinstance(t, str) and t for t in answer["errors"].values())
        time.sleep(0.02)
        assert probe.node_commands() == []
        return
    said = said_to_the_user(probe.answers())
    assert not any(INTERNAL in t for t in said), said
    sent = probe.node_commands()
    if sent:  # only a dial into a conference that exists, by someone allowed to
        assert user == ADMIN and [c["command"] for c in sent] == ["participant/dial"]
        assert submitted(payload), payload


# --- options requests --------------------------------------------------------------------------


@FUZZ
@given(
    typed=TEXT,
    user=USERS,
    callback=st.sampled_from([DIAL_CALLBACK, TRANSFER_CALLBACK, ""]) | st.text(max_size=10),
    action_id=st.sampled_from([CONFERENCE_OPTIONS]) | st.text(max_size=10),
)
def test_any_options_request_gets_options_in_time_and_nothing_else(
    probe: Probe, tally: Tally, typed: str, user: str, callback: str, action_id: str
) -> None:
    probe.start()
    payload = {
        "type": "block_suggestion",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "team": {"id": TEAM},
        "action_id": action_id,
        "block_id": "conference",
        "value": typed,
        "view": {"id": "V0FUZZ001", "type": "modal", "callback_id": callback},
    }

    started = time.monotonic()
    response = probe.bot.slack.interact(payload)
    tally.inputs_fuzzed += 1

    assert time.monotonic() - started < 3.0
    if action_id != CONFERENCE_OPTIONS:  # no such options source: acknowledged, with none
        assert response.status_code == 200 and response.json() == {"options": []}
        assert probe.node_requests() == 0
        return
    assert response.status_code == 200
    options = response.json()["options"]
    assert all(len(o["text"]["text"]) <= 75 and o["value"] for o in options)
    assert probe.node_commands() == []
    if user != ADMIN:  # neither dial nor transfer anywhere: not even a lookup
        assert options == []
        assert probe.node_requests() == 0
