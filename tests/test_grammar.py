"""The slash-command grammar (INTERFACE.md section 4): text typed after `/pexip` → a command."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from pydantic import ValidationError

from bot.auth.policy import PERMISSIONS
from handlers.backups import BackupList, BackupNow, BackupRestore
from handlers.commands import BaseCommand, ParticipantRef
from handlers.conferences import (
    Conferences,
    End,
    Lock,
    MuteGuests,
    SetLayout,
    Sync,
    Unlock,
    UnmuteGuests,
)
from handlers.dialling import Dial, OpenDialModal
from handlers.grammar import COMMAND_WORDS, USAGE, Command, UsageError, parse
from handlers.health import Status
from handlers.help import Help, WhoAmI
from handlers.participants import (
    Admit,
    Disconnect,
    Mute,
    Participants,
    SetRole,
    Transfer,
    Unmute,
)
from handlers.tokens import Token, quote, tokenize

UUID = "8d4f0a5e-3b2c-4c1d-9e8f-7a6b5c4d3e2f"


def p(query: str, conference: str | None = None) -> ParticipantRef:
    return ParticipantRef(query=query, conference=conference)


def dial(**fields: object) -> Dial:
    return Dial.model_validate(
        {"conference_alias": "meet@example.com", "destination": "alice@example.com", **fields}
    )


VALID: list[tuple[str, Command]] = [
    # help, whoami, conferences
    ("", Help()),
    ("   \t ", Help()),
    ("help", Help()),
    ("HELP Dial", Help(topic="dial")),
    ("help mute-guests", Help(topic="mute-guests")),
    ("whoami", WhoAmI()),
    ("WhoAmI", WhoAmI()),
    ("conferences", Conferences()),
    # participants <conference>
    ("participants VMR_1", Participants(conference="VMR_1")),
    ('participants "Alice’s Room"', Participants(conference="Alice’s Room")),
    ("participants “Board Room”", Participants(conference="Board Room")),
    (
        "participants <mailto:meet@example.com|meet@example.com>",
        Participants(conference="meet@example.com"),
    ),
    (f"Participants {UUID}", Participants(conference=UUID)),
    # dial
    ("dial", OpenDialModal()),
    ("  DIAL  ", OpenDialModal()),
    ("dial meet@example.com alice@example.com", dial()),
    (
        "dial <mailto:meet@example.com|meet@example.com>"
        " <mailto:alice@example.com|alice@example.com>",
        dial(),
    ),
    ("dial meet@example.com <sip:alice@example.com|alice@example.com>", dial()),
    ("dial <mailto:meet@example.com> alice@example.com", dial()),
    ("dial role=chair meet@example.com alice@example.com", dial(role="chair")),
    (
        "dial meet@example.com alice@example.com ROLE=Chair Protocol=H323 CALL_TYPE=Video-Only",
        dial(role="chair", protocol="h323", call_type="video-only"),
    ),
    ("dial meet@example.com alice@example.com call-type=audio", dial(call_type="audio")),
    (
        'dial meet@example.com alice@example.com location="London DC" name="Alice Parkes"',
        dial(location="London DC", name="Alice Parkes"),
    ),
    (
        "dial meet@example.com alice@example.com name=“Alice Parkes” location=“London DC”",
        dial(location="London DC", name="Alice Parkes"),
    ),
    (
        "dial meet@example.com alice@example.com name='Alice O'Brien'",
        dial(name="Alice O'Brien"),
    ),
    ("dial meet@example.com alice@example.com name=O’Brien", dial(name="O’Brien")),
    (
        "dial meet@example.com alice@example.com node=10.0.0.5",
        dial(node=IPv4Address("10.0.0.5")),
    ),
    (
        "dial meet@example.com alice@example.com node=2001:db8::5",
        dial(node=IPv6Address("2001:db8::5")),
    ),
    (
        "dial meet@example.com alice@example.com node=[2001:db8::5]",
        dial(node=IPv6Address("2001:db8::5")),
    ),
    (
        "dial meet@example.com alice@example.com protocol=teams call_type=video",
        dial(protocol="teams"),
    ),
    (
        "dial meet@example.com sip:bob@example.com;transport=tls",
        dial(destination="sip:bob@example.com;transport=tls"),
    ),
    (
        "dial meet@example.com rtmp://live.example.com/app?key=abc protocol=rtmp",
        dial(destination="rtmp://live.example.com/app?key=abc", protocol="rtmp"),
    ),
    ("dial meet@example.com <tel:+15551234|+15551234>", dial(destination="+15551234")),
    ("dial VMR_1 AT&amp;T", dial(conference_alias="VMR_1", destination="AT&T")),
    # mute / unmute / disconnect / admit <participant>
    ("mute Alice", Mute(participant=p("Alice"))),
    ("MUTE alice", Mute(participant=p("alice"))),
    ("mute Alice Parkes in VMR_1", Mute(participant=p("Alice Parkes", "VMR_1"))),
    ('mute "Alice Parkes" IN VMR_1', Mute(participant=p("Alice Parkes", "VMR_1"))),
    ("mute “Alice Parkes” in “Board Room”", Mute(participant=p("Alice Parkes", "Board Room"))),
    ("mute ‘Alice Parkes’", Mute(participant=p("Alice Parkes"))),
    ("mute 'Alice Parkes' in VMR_1", Mute(participant=p("Alice Parkes", "VMR_1"))),
    ('mute "Alice in Chains"', Mute(participant=p("Alice in Chains"))),
    ('mute "in" in VMR_1', Mute(participant=p("in", "VMR_1"))),
    ("mute Bob in the lobby in VMR_1", Mute(participant=p("Bob in the lobby", "VMR_1"))),
    ("mute O'Brien", Mute(participant=p("O'Brien"))),
    ("mute Seán O’Brien in VMR_1", Mute(participant=p("Seán O’Brien", "VMR_1"))),
    ("mute 'Tis", Mute(participant=p("'Tis"))),
    ("mute Alice's phone", Mute(participant=p("Alice's phone"))),
    ("mute <@U0123ABC|alice>", Mute(participant=p("alice"))),
    (
        "mute alice@example.com in <mailto:meet@example.com|meet@example.com>",
        Mute(participant=p("alice@example.com", "meet@example.com")),
    ),
    (f"mute {UUID}", Mute(participant=p(UUID))),
    ("unmute Alice", Unmute(participant=p("Alice"))),
    ("disconnect Bob in VMR_1", Disconnect(participant=p("Bob", "VMR_1"))),
    ('admit "Carol Jones"', Admit(participant=p("Carol Jones"))),
    # transfer <participant> to <conference-alias> [role=]
    (
        "transfer Bob in VMR_1 to vmr2@meet.example.com role=chair",
        Transfer(participant=p("Bob", "VMR_1"), to_alias="vmr2@meet.example.com", role="chair"),
    ),
    ("transfer Bob to vmr2", Transfer(participant=p("Bob"), to_alias="vmr2")),
    (
        "TRANSFER Bob Smith TO Vmr2 ROLE=GUEST",
        Transfer(participant=p("Bob Smith"), to_alias="Vmr2", role="guest"),
    ),
    (
        '"transfer" "Mr to" to <mailto:vmr2@meet.example.com|vmr2@meet.example.com>',
        Transfer(participant=p("Mr to"), to_alias="vmr2@meet.example.com"),
    ),
    # <conference> commands
    ("lock VMR_1", Lock(conference="VMR_1")),
    ("unlock vmr_1", Unlock(conference="vmr_1")),
    ('mute-guests "Board Room"', MuteGuests(conference="Board Room")),
    ("UNMUTE-GUESTS VMR_1", UnmuteGuests(conference="VMR_1")),
    ("end <mailto:meet@example.com|meet@example.com>", End(conference="meet@example.com")),
    # sync, backup
    ("sync 3", Sync(template_id=3)),
    ("SYNC 2147483647", Sync(template_id=2147483647)),
    ("backup now", BackupNow()),
    ("Backup NOW", BackupNow()),
    ("backup list", BackupList()),
    (
        "backup restore pexip_backup_2026-11-22.tar",
        BackupRestore(filename="pexip_backup_2026-11-22.tar"),
    ),
    ('BACKUP Restore "my backup.tar"', BackupRestore(filename="my backup.tar")),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[text or "<empty>" for text, _ in VALID])
def test_valid_text_parses_to_the_command(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("expected", [command for _, command in VALID], ids=lambda c: c.to_text())
def test_to_text_parses_back_to_the_same_command(expected: Command) -> None:
    assert parse(expected.to_text()) == expected


INVALID: list[tuple[str, str | None, tuple[str, ...]]] = [
    # (text, command word reported, fragments the message must contain)
    ("mutte Alice", None, ("Unknown command `mutte`. Did you mean `mute`?", "`/pexip help`")),
    ("frobnicate", None, ("Unknown command `frobnicate`", "`backup`", "`/pexip help`")),
    ("role=chair", None, ("Unknown command `role=chair`",)),
    ("help mutte", "help", ("no command `mutte`", "Did you mean `mute`?", "`mute-guests`")),
    ("help mute unmute", "help", ("one command word", "got 2")),
    ("whoami now", "whoami", ("`whoami` takes nothing", "`now`")),
    ("conferences VMR_1", "conferences", ("`conferences` takes nothing",)),
    ("participants", "participants", ("needs a conference",)),
    ("participants Board Room", "participants", ("got 2 values", "`Board`", "in quotes")),
    ('participants ""', "participants", ("empty conference",)),
    ("dial meet@example.com", "dial", ("needs a destination", "`meet@example.com`")),
    ("dial role=chair", "dial", ("needs the conference alias and the destination",)),
    ("dial meet@example.com Alice Parkes", "dial", ("takes two values", "got 3", "name=")),
    ("dial a b node=conf1.example.com", "dial", ("IP address", "not a host name")),
    ("dial a b node=10.0.0.999", "dial", ("IP address", "`10.0.0.999`")),
    ("dial a b protocl=sip", "dial", ("no option `protocl=`", "Did you mean `protocol=`?")),
    ("dial a b colour=red", "dial", ("no option `colour=`", "`role=`", "`name=`")),
    ("dial a b role=host", "dial", ("`role` must be `chair` or `guest`", "`host`")),
    ("dial a b protocol=h232", "dial", ("`protocol` must be", "Did you mean `h323`?")),
    ("dial a b call_type=hd", "dial", ("`call_type` must be", "`video-only`")),
    ("dial a b role=chair ROLE=guest", "dial", ("`role=` is given twice",)),
    ("dial a b name=", "dial", ("`name=` needs a value",)),
    ('dial a b name=""', "dial", ("`name=` needs a value",)),
    ('dial a b name="Alice', "dial", ("never closed", "Alice")),
    ("mute", "mute", ("needs a participant",)),
    ("mute in VMR_1", "mute", ("needs a participant",)),
    ("mute Alice in", "mute", ("`in` must be followed by the conference",)),
    ("mute Alice in Board Room", "mute", ("After `in` give one value", "in quotes")),
    ("mute role=chair", "mute", ("`mute` takes no options", "`role=chair`", "quotes")),
    ('mute "Alice Parkes', "mute", ("never closed", "`Alice Parkes`")),
    ("mute “Alice Parkes", "mute", ("never closed",)),
    ('mute Alice"', "mute", ("quote at the end is never closed",)),
    ("unmute", "unmute", ("needs a participant",)),
    ("disconnect in", "disconnect", ("needs a participant",)),
    ("admit a\x00b", "admit", ("control character", "U+0000")),
    ("transfer Bob", "transfer", ("needs `to`",)),
    ("transfer Bob to", "transfer", ("`to` must be followed by the conference alias",)),
    ("transfer to vmr2", "transfer", ("needs a participant",)),
    ("transfer Bob to vmr2 in VMR_1", "transfer", ("Put `in <conference>` before `to`",)),
    ("transfer Bob to vmr2 vmr3", "transfer", ("After `to` give one value", "got 2")),
    ("transfer Bob to vmr2 role=host", "transfer", ("`role` must be",)),
    ("transfer Bob to vmr2 protocol=sip", "transfer", ("no option `protocol=`", "`role=`")),
    ("lock", "lock", ("`lock` needs a conference",)),
    ("unlock a b", "unlock", ("got 2 values",)),
    ("mute-guests", "mute-guests", ("needs a conference",)),
    ("unmute-guests x y", "unmute-guests", ("got 2 values",)),
    ("end", "end", ("`end` needs a conference",)),
    ("sync", "sync", ("needs the id",)),
    ("sync abc", "sync", ("whole number", "`abc`")),
    ("sync 0", "sync", ("whole number", "`0`")),
    ("sync -3", "sync", ("whole number", "`-3`")),
    ("sync 2147483648", "sync", ("whole number",)),
    ("sync ٣", "sync", ("whole number",)),
    ("sync " + "9" * 5000, "sync", ("whole number", "…")),
    ("sync 1 2", "sync", ("got 2 values",)),
    ("backup", "backup", ("`now`, `list` or `restore <filename>`",)),
    ("backup lst", "backup", ("not `lst`", "Did you mean `list`?")),
    ("backup now please", "backup", ("`backup now` takes nothing", "`please`")),
    ("backup restore", "backup", ("`restore` must be followed by the backup file name",)),
    ("backup restore a.tar b.tar", "backup", ("got 2",)),
]


@pytest.mark.parametrize(
    ("text", "command", "fragments"), INVALID, ids=[t[:40] for t, *_ in INVALID]
)
def test_invalid_text_names_the_problem_and_the_right_form(
    text: str, command: str | None, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    error = caught.value
    assert error.command == command
    for fragment in fragments:
        assert fragment in shown(error.message)
    if command is None:
        assert "Type `/pexip help` for the list." in error.message
    else:
        assert f"Usage: {USAGE[command].usage('/pexip')}" in error.message
        assert USAGE[command].example_text("/pexip") in error.message


def shown(message: str) -> str:
    """A message as Slack shows it: its `&lt;` `&gt;` `&amp;` undone."""
    return message.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_usage_errors_use_the_configured_slash_command() -> None:
    with pytest.raises(UsageError) as unknown:
        parse("mutte Alice", slash="/av")
    assert unknown.value.message.endswith("Type `/av help` for the list.")
    with pytest.raises(UsageError) as bad:
        parse("lock", slash="/av")
    assert "`/av lock <conference>`" in shown(bad.value.message)
    assert "/pexip" not in unknown.value.message + bad.value.message


def test_the_unknown_command_message_reads_as_specified() -> None:
    with pytest.raises(UsageError, match=r"^Unknown command `mutte`\. Did you mean `mute`\? Type"):
        parse("mutte")


def test_echoed_text_is_shortened_and_cannot_break_out_of_code_formatting() -> None:
    with pytest.raises(UsageError) as caught:
        parse("lock a`b " + "x" * 200)
    assert "`a'b`" in caught.value.message
    assert "x" * 60 not in caught.value.message


# The commands table and the models.


@pytest.mark.parametrize("word", COMMAND_WORDS)
def test_every_command_word_has_help_whose_example_parses(word: str) -> None:
    entry = USAGE[word]
    assert entry.word == word and entry.summary and entry.forms
    assert all(form.split()[0] == word for form in entry.forms)
    assert parse(entry.example).word == word
    assert parse(f"help {word}") == Help(topic=word)


def test_usage_table_lists_the_command_words_in_grammar_order() -> None:
    assert tuple(USAGE) == COMMAND_WORDS


MODELS: list[tuple[type[BaseCommand], str, str | None]] = [
    (Help, "help", None),
    (WhoAmI, "whoami", None),
    (Conferences, "conferences", "conferences"),
    (Participants, "participants", "participants"),
    (OpenDialModal, "dial", "dial"),
    (Dial, "dial", "dial"),
    (Mute, "mute", "mute"),
    (Unmute, "unmute", "unmute"),
    (Disconnect, "disconnect", "disconnect"),
    (Admit, "admit", "admit"),
    (Transfer, "transfer", "transfer"),
    (SetRole, "role", "role"),
    (SetLayout, "layout", "layout"),
    (Lock, "lock", "lock"),
    (Unlock, "unlock", "unlock"),
    (MuteGuests, "mute-guests", "mute-guests"),
    (UnmuteGuests, "unmute-guests", "unmute-guests"),
    (End, "end", "end"),
    (Sync, "sync", "sync"),
    (Status, "status", "status"),
    (BackupNow, "backup", "backup"),
    (BackupList, "backup", "backup"),
    (BackupRestore, "backup", "restore"),
]


@pytest.mark.parametrize(
    ("model", "word", "permission"), MODELS, ids=lambda x: getattr(x, "__name__", x)
)
def test_each_model_names_its_word_and_permission(
    model: type[BaseCommand], word: str, permission: str | None
) -> None:
    assert (model.word, model.permission) == (word, permission)


def test_permissions_are_exactly_the_documented_names() -> None:
    documented = [
        *("conferences", "participants", "dial", "mute", "unmute", "disconnect", "admit"),
        *("transfer", "role", "layout", "lock", "unlock", "mute-guests", "unmute-guests"),
        *("end", "sync", "status", "backup", "restore"),
    ]
    assert list(PERMISSIONS) == documented
    assert {permission for _, _, permission in MODELS} == {*documented, None}


def test_commands_are_frozen_and_hashable() -> None:
    command = Mute(participant=p("Alice", "VMR_1"))
    with pytest.raises(ValidationError):
        command.participant = p("Bob")  # type: ignore[misc]
    assert hash(command) == hash(Mute(participant=p("Alice", "VMR_1")))


def test_help_topic_must_be_a_command_word() -> None:
    with pytest.raises(ValidationError):
        Help(topic="nope")


def test_dial_to_text_writes_only_what_differs_from_the_defaults() -> None:
    command = dial(role="chair", name="Alice Parkes", node=IPv4Address("10.0.0.5"))
    assert command.to_text() == (
        'dial meet@example.com alice@example.com role=chair node=10.0.0.5 name="Alice Parkes"'
    )


# The tokenizer.


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("O'Brien", [Token("O'Brien")]),
        ("‘Alice O’Brien’", [Token("Alice O’Brien", bare=False)]),
        ("'Tis the season'", [Token("Tis the season", bare=False)]),
        ('x "a  b" y', [Token("x"), Token("a  b", bare=False), Token("y")]),
        ("„Anna Schmidt“", [Token("Anna Schmidt", bare=False)]),
        ('""', [Token("", bare=False)]),
        ('name="Alice Parkes"', [Token("Alice Parkes", bare=False, key="name")]),
        ('"name=Alice"', [Token("name=Alice", bare=False)]),
        ("a=b=c", [Token("b=c", key="a")]),
        ("<@U1|bob> <#C1|general>", [Token("bob", bare=False), Token("general", bare=False)]),
        ("<https://x.example|click here>", [Token("click here", bare=False)]),
        ("&lt;b&gt; &amp;lt;", [Token("<b>"), Token("&lt;")]),
        ("a <b", [Token("a"), Token("<b")]),
        ("a\u00a0b\nc", [Token("a"), Token("b"), Token("c")]),
    ],
)
def test_tokenize(text: str, tokens: list[Token]) -> None:
    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("VMR_1", "VMR_1"),
        ("Alice Parkes", '"Alice Parkes"'),
        ("in", '"in"'),
        ("TO", '"TO"'),
        ("a=b", '"a=b"'),
        ("", '""'),
        ("'quoted'", "\"'quoted'\""),
        ('say "hi"', "'say \"hi\"'"),
        ("AT&T <x>", '"AT&amp;T &lt;x&gt;"'),
        ("“x' y”", "<_|“x' y”>"),
    ],
)
def test_quote(value: str, written: str) -> None:
    assert quote(value) == written
    assert [token.text for token in tokenize(written)] == [value]
