"""Text from outside the bot is shown literally in every kind of message (INTERFACE §4): hostile
display names, aliases, conference and file names, typed text and node words can never mention,
ping, link or format, in blocks or in `text`.

Each message is checked as Slack reads mrkdwn: the only `<…>` in it are the ones the bot means
(the person acting, a date), every `&` starts one of Slack's three escapes, no formatting mark
comes from outside (the outside text is found in the message with none of `*`, `~`, a backtick,
or an `_` that is not between two letters or digits), no bidi control reorders our words, and a
reader still sees the outside text itself (NFKC folds the fullwidth lookalikes back).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import messages
from bot.backup.notify import render_report
from bot.backup.report import BackupReport, StoredAt
from bot.pexip import errors
from bot.pexip.models import Conference, Participant
from bot.pexip.resolve import Ambiguous, match_participants
from bot.slack.mrkdwn import MAX_TEXT, MAX_VALUE, Mrkdwn, literal, render
from bot.slack.replies import Message
from bot.store.audit import AuditEntry, Outcome
from handlers import blocks
from handlers.commands import ParticipantRef
from handlers.conferences import End, conference_buttons
from handlers.grammar import UsageError, parse
from handlers.participants import Mute, Participants, row_buttons
from handlers.registry import REGISTRY

HOSTILE = [
    "<!channel>",
    "<!here|x>",
    "<!everyone>",
    "<@U0ADMIN01>",
    "<#C0ROOMS01>",
    "<!subteam^S0GROUP01>",
    "<https://evil.example|click>",
    "&lt;!channel&gt;",
    "*bold*",
    "_italic_",
    "`code`",
    "```block```",
    "~x~",
    "> quoted",
    "line one\n> quote\n<!here>",
    "zero\u200bwidth\u200d\ufeff",
    "\u202eevil\u202c right-to-left \u2067isolated",
    "Alice\u0000Bell\u0007",
    "&amp; &",
    "x" * 10_000,
    "<!channel>" * 1_000,
]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), min_size=2, max_size=4).map(" ".join),
    st.text(alphabet=st.sampled_from("<>&!@#|*_~`>\n\u202e\u200b aZ9:/."), max_size=60),
    st.text(max_size=40),
)

ACTOR = "U0ADMIN01"
OURS = re.compile(r"<@U0ADMIN01>|<!date\^\d+\^[^|>]*\|[^>]*>")
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def shown(mrkdwn: str) -> str:
    return mrkdwn.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def assert_safe_mrkdwn(text: str) -> None:
    """No mention, ping or link but ours, no bare `&`, no bidi control."""
    assert "<" not in OURS.sub("", text) and ">" not in OURS.sub("", text), text[:300]
    assert not ENTITY.search(text), text[:300]
    assert not BIDI.search(text), text[:300]


def assert_literal(text: str, outside: str, present: bool = True) -> None:
    """`outside` appears in `text` made literal: no formatting mark of its own, and readable."""
    made = literal(outside)
    assert not re.search(r"[*~`]", made)
    assert not re.search(r"(?<![^\W_])_|_(?![^\W_])", made), made[:200]
    if present:
        assert made in text
    flat = "".join(" " if unicodedata.category(c) == "Cc" else c for c in BIDI.sub("", outside))
    reads = shown(made)
    if reads.startswith("\u200b") and not flat.startswith("\u200b"):
        reads = reads[1:]  # the zero-width space that keeps a leading `>` from quoting
    if len(flat) > MAX_VALUE:
        flat, reads = flat[: MAX_VALUE // 2], reads[: MAX_VALUE // 2]  # "…" after MAX_VALUE
    assert " ".join(folded(reads).split()) == " ".join(folded(flat).split())


def mrkdwn_texts(message: Message) -> list[str]:
    """`text` and every mrkdwn text object in the blocks (plain_text is literal by definition)."""
    found = [message.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.blocks or [])
    return found


def assert_message(message: Message, *outside: str) -> None:
    texts = mrkdwn_texts(message)
    for text in texts:
        assert_safe_mrkdwn(text)
        assert len(text) <= MAX_TEXT
    room = sum(len(literal(value)) for value in outside) < MAX_TEXT // 2
    for value in outside:
        assert_literal(message.text, value, present=room)


def participant(name: str, conference: str, n: int = 1) -> Participant:
    return Participant(
        id=f"00000000-0000-0000-0000-00000000000{n}",
        conference=conference.strip() or "-",
        display_name=name,
        source_alias=f"sip:{name}@example.com",
        protocol="sip",
        has_media=True,
    )


# --- every kind of message -----------------------------------------------------------------


def done(word: str, target: str) -> Mrkdwn:
    """What the channel reads when `word` succeeded, as the runner words it (the declaration)."""
    return messages.done(ACTOR, render(REGISTRY.said(word).done, target=target))


def attempted(word: str, target: str) -> Mrkdwn:
    return render(REGISTRY.said(word).attempt, target=target)


@given(name=hostile_text, conference=hostile_text)
@settings(max_examples=150, deadline=None)
def test_outcomes_in_the_channel(name: str, conference: str) -> None:
    for word in ("mute", "disconnect", "transfer", "admit"):
        said = done(word, messages.whom(name, conference))
        assert said.startswith(f"<@{ACTOR}> ")
        assert_message(Message(said), name, conference)
    assert_message(Message(done("lock", conference)), conference)


@given(words=hostile_text, name=hostile_text)
@settings(max_examples=150, deadline=None)
def test_node_errors_on_a_command_and_on_a_lookup(words: str, name: str) -> None:
    for cls in (errors.InvalidRequest, errors.NotFound, errors.NoAnswer, errors.PexipError):
        error = cls(f"mute participant: {words}", operation="mute participant")
        action = attempted("mute", messages.whom(name, "VMR_1"))
        assert_message(Message(messages.command_failed(ACTOR, action, error)), name)
        assert_message(Message(messages.lookup_failed(error)))


@given(conference=hostile_text, names=st.lists(hostile_text, min_size=1, max_size=3))
@settings(max_examples=100, deadline=None)
def test_listings(conference: str, names: list[str]) -> None:
    conference = conference.strip() or "-"  # the node always names a conference
    running = Conference(id="c0ffee00-0000-0000-0000-000000000001", name=conference)
    everyone = {"participants", "lock", "mute-guests", "end", "mute", "disconnect", "transfer"}
    listing = blocks.conferences_listing(
        [running], {conference: 2}, lambda c, n: conference_buttons(c, n, everyone)
    )
    assert_message(listing, conference)
    people = [participant(name, conference, n) for n, name in enumerate(names)]
    refresh = Participants(conference=running.id)
    listing = blocks.participants_listing(
        running, people, lambda p: row_buttons(p, everyone, refresh)
    )
    assert_message(listing, *names)


@given(query=hostile_text, names=st.lists(hostile_text, min_size=2, max_size=3))
@settings(max_examples=100, deadline=None)
def test_choices_for_an_ambiguous_name(query: str, names: list[str]) -> None:
    candidates = [participant(name, "VMR_1", n) for n, name in enumerate(names)]
    command = Mute(participant=ParticipantRef(query="x"))
    assert_message(blocks.pick_one(command, Ambiguous(query, candidates)), query)


@given(name=hostile_text)
@settings(max_examples=100, deadline=None)
def test_confirmations_and_lobby_like_follow_ups(name: str) -> None:
    question = blocks.end_question(name, 3)
    go = End(conference="c0ffee00-0000-0000-0000-000000000001")
    assert_message(blocks.confirmation(question, go, "End"), name)
    said = done("dial", f"{name} into VMR_3")
    # what the dial follow-up edits the message into (handlers.dialling.follow_call)
    assert_message(Message(render("{} {}.", said, "Connected")))
    assert_message(Message(render("{} Ringing…", said)))


@given(typed=hostile_text)
@settings(max_examples=200, deadline=None)
def test_usage_errors_and_no_match(typed: str) -> None:
    for line in (typed, f"mute {typed}", f"lock {typed} {typed}", f"dial a b role={typed}"):
        try:
            parse(line)
        except UsageError as error:
            assert_message(Message(messages.usage(error.message)))
    assert_message(Message(messages.no_match(f"no participant matching {typed!r}", "/pexip")))
    assert_message(Message(messages.denied(f"nothing covers {typed}", "ab12cd34")))


@given(target=hostile_text, detail=hostile_text, outcome=st.sampled_from(list(Outcome)))
@settings(max_examples=100, deadline=None)
def test_audit_channel_posts(target: str, detail: str, outcome: Outcome) -> None:
    entry = AuditEntry(
        user=ACTOR, channel="C0ROOMS01", command="mute", target=target, detail=detail,
        outcome=outcome,
    )  # fmt: skip
    summary = entry.summary()
    assert isinstance(summary, Mrkdwn)
    assert_message(Message(summary))


@given(filename=hostile_text, reason=hostile_text, node=hostile_text)
@settings(max_examples=100, deadline=None)
def test_backup_reports(filename: str, reason: str, node: str) -> None:
    began = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    for outcome in ("success", "failure"):
        report = BackupReport(
            outcome=outcome,  # type: ignore[arg-type]
            trigger="manual",
            started_at=began,
            finished_at=began + timedelta(seconds=42),
            failed_step=None if outcome == "success" else "download",
            reason="" if outcome == "success" else reason,
            filename=filename,
            size=1234,
            stored_at=StoredAt(node=node, local_path=Path("/backups") / "x.tar"),
            pruned_node=(filename,),
            requested_by=ACTOR,
        )
        text, report_blocks = render_report(report)
        assert_message(Message(text, report_blocks))


def test_the_issue_examples_render_as_the_characters_typed() -> None:
    said = done("dial", "<!channel> into VMR_3")
    assert said == f"<@{ACTOR}> is dialling &lt;!channel&gt; into VMR_3."
    assert literal("*bold* `code` ~x~ _i_") == "＊bold＊ ｀code｀ ～x～ ＿i＿"
    assert literal("VMR_1 first_last") == "VMR_1 first_last"  # no formatting possible there
    assert literal("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"


def test_a_name_copied_from_a_message_still_matches() -> None:
    bold = participant("*Bold* _Guest_", "VMR_1")
    copied = shown(literal(bold.display_name))
    assert copied != bold.display_name
    assert match_participants([bold], copied) == [bold]


def test_a_plain_string_at_the_boundary_is_outside_text() -> None:
    """A message nobody rendered can at worst show our markup literally: never ping."""
    message = Message("<!channel> *hi*")
    assert message.text == "&lt;!channel&gt; ＊hi＊"
    assert Message(render("{} *hi*", "<!channel>")).text == "&lt;!channel&gt; *hi*"


@given(name=hostile_text, words=hostile_text)
@settings(max_examples=100, deadline=None)
def test_node_health_status_and_alerts(name: str, words: str) -> None:
    from bot.health import alerts
    from bot.health.nodes import Alarm, Health, LicenceUse, Status, WorkerNode
    from bot.health.render import render_status
    from bot.pexip.models import ManagementNode

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    node = WorkerNode(
        id=2,
        name=name,
        system_location=words,
        maintenance_mode=True,
        maintenance_mode_reason=words,
        sync_status=words or "FAILED",
        upgrade_status=words,
        version=words,
    )
    alarm = Alarm(id=1, name=name, level=words, details=words, instance=name, node=words)
    alarm = alarm.model_copy(update={"time_raised": now - timedelta(minutes=3)})
    status = Status(
        ManagementNode(name=name, primary=True, version=f"36 ({words})"),
        Health([alarm], [LicenceUse("port", 90, 100)], [node], now),
    )
    entry = alerts.Entry("alarm", alarm.key, alerts.alarm_data(alarm), now, "C0OPS0001", "1.2")
    built = [
        render_status(status, 80),
        alerts.alarm_message(alarm, now),
        alerts.cleared_message(entry, now),
        alerts.maintenance_message(node),
        alerts.sync_lost_message(node),
        alerts.sync_back_message(node, entry, now),
        alerts.node_gone_message(alerts.Entry("sync", "2", alerts.node_data(node), now)),
        alerts.unreachable_message(words),
        alerts.reachable_message(alerts.Entry("unreachable", "node", {"reason": words}, now), now),
    ]
    for message in built:
        text, message_blocks = (
            message if isinstance(message, tuple) else (message.text, message.blocks)
        )
        assert_message(Message(text, message_blocks))
