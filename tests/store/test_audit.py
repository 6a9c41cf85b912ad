"""The audit log (INTERFACE §6) on SQLite and on PostgreSQL, and the audit channel."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError
from bot.store.audit import (
    AuditEntry,
    AuditError,
    Auditor,
    AuditStore,
    Outcome,
    new_correlation_id,
)
from bot.store.database import database_url

POSTGRES_URL = os.environ.get("PEXBOT_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    engine = sqlalchemy.create_engine(database_url(url))
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP TABLE IF EXISTS audit_log"))
    engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty audit database: an SQLite file not yet created, or a PostgreSQL database
    without the table (PEXBOT_TEST_POSTGRES_URL, set by .ci/postgres.sh)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit/pexbot.db"
    if not POSTGRES_URL:
        pytest.skip('PEXBOT_TEST_POSTGRES_URL is not set (eval "$(bash .ci/postgres.sh)")')
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def store(db_url: str) -> Iterator[AuditStore]:
    store = AuditStore(db_url)
    yield store
    store.close()


def entry(minutes: int = 0, **fields: str) -> AuditEntry:
    values: dict[str, object] = {
        "at": datetime(2026, 11, 22, 10, 15, 3, tzinfo=UTC) + timedelta(minutes=minutes),
        "user": "U0MOD0001",
        "team": "T0TEAM001",
        "channel": "C0ROOMS01",
        "command": "mute",
        "target": "Alice Parkes (VMR_1)",
        "outcome": Outcome.SUCCESS,
        **fields,
    }
    return AuditEntry.model_validate(values)


async def test_entries_come_back_as_recorded_newest_first(store):
    first, second = entry(0, command="mute"), entry(5, command="end", outcome="denied")

    await store.record(first)
    await store.record(second)

    assert await store.recent(limit=10) == [second, first]


async def test_the_table_is_created_on_first_use(db_url):
    store = AuditStore(db_url)
    try:
        assert await store.recent() == []
    finally:
        store.close()


async def test_sqlite_file_and_folder_are_created_on_first_write(tmp_path):
    path = tmp_path / "data" / "audit.db"
    store = AuditStore(f"sqlite:///{path}")

    await store.record(entry())
    store.close()

    assert path.is_file()


async def test_limit_and_since(store):
    for minute in range(5):
        await store.record(entry(minute, target=f"t{minute}"))
    since = datetime(2026, 11, 22, 11, 17, 3, tzinfo=timezone(timedelta(hours=1)))  # 10:17:03Z

    newest_two = await store.recent(limit=2)
    from_minute_two = await store.recent(limit=10, since=since)

    assert [e.target for e in newest_two] == ["t4", "t3"]
    assert [e.target for e in from_minute_two] == ["t4", "t3", "t2"]


async def test_times_are_stored_and_returned_in_utc(store):
    local = datetime(2026, 11, 22, 6, 15, 3, 250000, tzinfo=timezone(timedelta(hours=-5)))

    await store.record(AuditEntry(at=local, user="U1", command="mute", outcome=Outcome.SUCCESS))
    (stored,) = await store.recent()

    assert stored.at == datetime(2026, 11, 22, 11, 15, 3, 250000, tzinfo=UTC)
    assert stored.at.utcoffset() == timedelta(0)
    assert stored.as_json()["at"] == "2026-11-22T11:15:03Z"


async def test_every_outcome_and_long_text_is_kept(store):
    long_detail = "node said: " + "x" * 5000
    for outcome in Outcome:
        await store.record(entry(command=outcome.value, outcome=outcome, detail=long_detail))

    stored = await store.recent(limit=10)

    assert {e.outcome for e in stored} == set(Outcome)
    assert all(e.detail == long_detail for e in stored)


async def test_concurrent_writers_all_land(store):
    await asyncio.gather(*(store.record(entry(i, target=f"t{i}")) for i in range(20)))

    assert len(await store.recent(limit=100)) == 20


async def test_in_memory_sqlite_works_across_threads():
    store = AuditStore("sqlite://")

    await asyncio.gather(*(store.record(entry(i)) for i in range(10)))

    assert len(await store.recent(limit=100)) == 10
    store.close()


def test_postgres_urls_use_psycopg_3():
    assert database_url("postgresql://u@db/pexbot").drivername == "postgresql+psycopg"
    assert database_url("postgres://u@db/pexbot").drivername == "postgresql+psycopg"
    assert database_url("sqlite:///pexbot.db").drivername == "sqlite"


def test_a_bad_database_url_names_the_variable():
    with pytest.raises(ConfigError, match=r"^DATABASE_URL: not a database URL"):
        AuditStore("pexbot.db")


async def test_an_unreachable_database_is_an_audit_error_without_the_password():
    store = AuditStore("postgresql://pexbot:hunter2secret@127.0.0.1:1/pexbot?connect_timeout=2")

    with pytest.raises(AuditError) as raised:
        await store.recent()

    message = str(raised.value)
    assert message.startswith("the audit log at postgresql+psycopg://pexbot:***@127.0.0.1:1/")
    assert "could not be read" in message
    assert "hunter2secret" not in message


def test_correlation_ids_are_short_and_distinct():
    ids = {new_correlation_id() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{8}", cid) for cid in ids)


# --- the Auditor: what handlers call ------------------------------------------------------


class Channel:
    def __init__(self, fail: bool = False) -> None:
        self.posts: list[tuple[str, str]] = []
        self.fail = fail

    async def __call__(self, channel: str, text: str) -> None:
        if self.fail:
            raise RuntimeError("channel_not_found")
        self.posts.append((channel, text))


async def test_auditor_stores_and_posts_one_line_to_the_audit_channel(store):
    channel = Channel()
    auditor = Auditor(store, channel, "C0AUDIT01")

    recorded = await auditor.record(
        user="U0MOD0001",
        team="T0TEAM001",
        channel="C0ROOMS01",
        command="end",
        target="VMR_1",
        outcome="denied",
        detail="you need the `end` permission",
    )

    assert await store.recent() == [recorded]
    assert channel.posts == [
        (
            "C0AUDIT01",
            # the whole line is stored text, shown literally: its backticks format nothing
            f"denied: U0MOD0001 end VMR_1 in C0ROOMS01 — you need the ｀end｀ permission "
            f"(ref {recorded.correlation_id})",
        )
    ]


async def test_the_correlation_id_given_is_the_one_stored(store):
    auditor = Auditor(store)

    recorded = await auditor.record(
        user="U1", command="mute", outcome=Outcome.ERROR, correlation_id="abcd1234"
    )

    assert recorded.correlation_id == "abcd1234"
    assert (await store.recent())[0].correlation_id == "abcd1234"


async def test_without_an_audit_channel_nothing_is_posted(store):
    channel = Channel()

    await Auditor(store, channel, None).record(user="U1", command="mute", outcome="success")

    assert channel.posts == []


async def test_a_failed_post_is_logged_with_the_correlation_id_and_not_raised(store, caplog):
    auditor = Auditor(store, Channel(fail=True), "C0AUDIT01")

    with caplog.at_level(logging.WARNING, logger="bot.store.audit"):
        recorded = await auditor.record(user="U1", command="lock", outcome="success")

    assert await store.recent() == [recorded]
    assert f"audit {recorded.correlation_id} not posted to C0AUDIT01" in caplog.text


async def test_a_failed_store_is_logged_with_the_entry_and_still_posted(caplog):
    broken = AuditStore("postgresql://pexbot@127.0.0.1:1/pexbot?connect_timeout=2")
    channel = Channel()
    auditor = Auditor(broken, channel, "C0AUDIT01")

    with caplog.at_level(logging.ERROR, logger="bot.store.audit"):
        recorded = await auditor.record(user="U1", command="end", target="VMR_1", outcome="error")

    assert f"audit {recorded.correlation_id} not stored" in caplog.text
    assert "'target': 'VMR_1'" in caplog.text
    assert len(channel.posts) == 1


async def test_no_secret_reaches_the_log_or_the_channel(store):
    channel = Channel()
    auditor = Auditor(
        store,
        channel,
        "C0AUDIT01",
        secrets=[SecretStr("s3cr3t-pexip-pw"), "backup-passphrase-42", None, ""],
    )

    await auditor.record(
        user="U0ADMIN01",
        command="backup",
        target="restore with backup-passphrase-42",
        outcome="error",
        detail="401 for admin:s3cr3t-pexip-pw; token xoxb-123-456-abcdef and xapp-1-A0-xyz",
    )

    (stored,) = await store.recent()
    text = " ".join(str(value) for value in stored.as_json().values()) + channel.posts[0][1]
    assert "s3cr3t-pexip-pw" not in text
    assert "backup-passphrase-42" not in text
    assert "xoxb-" not in text
    assert "xapp-" not in text
    assert stored.detail == "401 for admin:***; token *** and ***"
    assert stored.target == "restore with ***"


async def test_the_channel_summary_cannot_ping_or_link(store):
    channel = Channel()
    auditor = Auditor(store, channel, "C0AUDIT01")

    await auditor.record(
        user="U1", command="mute", target="<!channel> & <@U0BOSS001>\nline", outcome="success"
    )

    text = channel.posts[0][1]
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS001&gt; line" in text
    assert "\n" not in text


async def test_audit_channel_post_through_slack(store, slack_api):
    client = AsyncWebClient(token=slack_api.bot_token, base_url=slack_api.url)

    async def post(channel: str, text: str) -> None:
        await client.chat_postMessage(channel=channel, text=text)

    auditor = Auditor(store, post, "C0AUDIT01")
    recorded = await auditor.record(user="U1", command="unlock", target="VMR_1", outcome="success")

    (message,) = slack_api.state.messages()
    assert message.channel == "C0AUDIT01"
    assert message.text == f"success: U1 unlock VMR_1 (ref {recorded.correlation_id})"


async def test_a_row_is_stored_whatever_its_text_holds(store):
    """A guest named `Mallory\x00` once cost the row on PostgreSQL; a lone surrogate (JSON
    `\\ud800`) or an over-long id must not cost it either."""
    hostile = entry(
        user="U" + "9" * 200,
        command="mute\x00",
        target="Mallory\x00 (VMR_1) \ud83d",
        detail="node said \x00\x1b[2J",
    )

    await store.record(hostile)

    [stored] = await store.recent(limit=5)
    assert stored.target == "Mallory\u2400 (VMR_1) \ufffd"
    assert stored.detail == "node said \u2400\x1b[2J"
    assert stored.command == "mute\u2400"
    assert len(stored.user) == 64 and stored.user.endswith("…")


async def test_the_auditor_keeps_a_row_from_a_hostile_display_name(store):
    auditor = Auditor(store)

    await auditor.record(
        user="U0MOD0001", command="disconnect", outcome="success", target="Mallory\x00 (VMR_1)"
    )

    assert [e.target for e in await store.recent(limit=5)] == ["Mallory\u2400 (VMR_1)"]
