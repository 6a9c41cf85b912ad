"""Every sentence a user reads about an outcome or an error, in one place.

`handlers.runner` decides where each goes (the channel, or only the person who asked) and how
it is audited; this module words it. A test fails if a `PexipError` subclass, or a command that
reaches the node, has no sentence here (tests/test_messages.py). Raw `str(exc)` of an unknown
error is never shown: the user gets a reference to quote, the log gets the traceback.

Every sentence is `Mrkdwn` built with `bot.slack.mrkdwn.render`: the names, typed text and node
words in it are made literal there, and nowhere else.
"""

from __future__ import annotations

from typing import Literal

from bot.pexip import errors
from bot.slack.mrkdwn import Mrkdwn, code, mention, render

Outcome = Literal["success", "error", "denied", "invalid", "pending", "rejected", "expired"]

# One sentence per PexipError class: why it happened and what to do. Most specific first.
PEXIP_SENTENCES: dict[type[errors.PexipError], str] = {
    errors.NotFound: "The management node has no such object: {detail}.",
    errors.InvalidRequest: "The management node refused it: {detail}.",
    errors.AuthError: (
        "The management node refused pexbot's API account ({detail}). "
        "An administrator should check PEXIP_USERNAME and PEXIP_PASSWORD."
    ),
    errors.TLSNameMismatch: (
        "The management node's certificate is not for the name pexbot connects to, so nothing "
        "was sent ({detail}). An administrator should set PEXIP_MANAGER_URL to one of the "
        "certificate's names, or give the node a certificate for that name."
    ),
    errors.TLSError: (
        "pexbot does not trust the management node's certificate, so nothing was sent ({detail})."
    ),
    errors.NotSent: (
        "The management node could not be reached, so nothing was sent. Try again shortly."
    ),
    errors.NoAnswer: (
        "The management node did not answer, so this may or may not have happened; "
        "check {what} before trying again."
    ),
    errors.Busy: "The management node is busy and did not act ({detail}). Try again shortly.",
    errors.Unavailable: "The management node could not be used ({detail}).",
    errors.UnexpectedResponse: (
        "The management node answered something pexbot cannot read ({detail})."
    ),
    errors.PexipError: "The management node reported a problem: {detail}.",
}


def pexip_sentence(exc: errors.PexipError) -> Mrkdwn:
    """The sentence for a node error; `detail` is the node's own words without our prefix."""
    for cls in type(exc).__mro__:
        if cls in PEXIP_SENTENCES:
            detail = (
                exc.message.removeprefix(f"{exc.operation}: ") if exc.operation else exc.message
            )
            return render(PEXIP_SENTENCES[cls], detail=detail.rstrip("."), what=_what_to_check(exc))
    raise LookupError(f"no sentence for {type(exc).__name__}")  # pragma: no cover - tested


# A command the node answered with something unreadable (e.g. a 200 with an HTML page) may well
# have been carried out: say so, as for no answer at all, rather than "it did not happen".
UNREADABLE_AFTER_COMMAND = "It may or may not have happened; check {what} before trying again."
# A read changes nothing, so a read nobody answered leaves nothing in doubt.
READ_UNANSWERED = "The management node did not answer in time. Try again shortly."


def _what_to_check(exc: errors.PexipError) -> str:
    return "the backup list" if "backup" in exc.operation else "the participant list"


def command_failed(actor: str, action: Mrkdwn, exc: errors.PexipError) -> Mrkdwn:
    """A command sent to the node failed: said in the channel, naming who tried what, and
    whether it happened."""
    who, sentence = mention(actor), pexip_sentence(exc)
    if isinstance(exc, errors.NoAnswer):
        return render("{} asked to {}: {}", who, action, sentence)
    if isinstance(exc, errors.UnexpectedResponse):
        unknown = render(UNREADABLE_AFTER_COMMAND, what=_what_to_check(exc))
        return render("{} asked to {}: {} {}", who, action, sentence, unknown)
    return render("{} tried to {}, but it did not happen. {}", who, action, sentence)


def read_failed(exc: errors.PexipError) -> Mrkdwn:
    """The sentence for a failed read: nothing was sent, so nothing is in doubt."""
    return render(READ_UNANSWERED) if isinstance(exc, errors.NoAnswer) else pexip_sentence(exc)


def lookup_failed(exc: errors.PexipError) -> Mrkdwn:
    """A lookup before any command was sent failed: said privately."""
    return render("Nothing was done. {}", read_failed(exc))


def internal_error(reference: str) -> Mrkdwn:
    return render(
        "Sorry, something went wrong inside pexbot and nothing may have been done. "
        "Quote reference `{}` to your administrator.",
        reference,
    )


def denied(detail: str, reference: str) -> Mrkdwn:
    return render(":no_entry: Not allowed: {}. (ref `{}`)", detail, reference)


def usage(message: str) -> Mrkdwn:
    return render(":warning: {}", message)


# After a name that matched nothing: the listing that shows what there is.
SEE_LISTING: dict[str, str] = {
    "conferences": "Try `{slash} conferences` to see who is where.",
    "backup list": "Try `{slash} backup list` to see the backup files.",
}


def no_match(message: str, slash: str, listing: str = "conferences") -> Mrkdwn:
    """`message` is our wording with what was looked for in it: made literal whole, unless it
    was rendered already."""
    hint = render(SEE_LISTING[listing], slash=slash)
    sentence = message[:1].upper() + message[1:]  # the first character is never markup
    return render(
        ":mag: {}. {}", Mrkdwn(sentence) if isinstance(message, Mrkdwn) else sentence, hint
    )


def whom(participant: str, conference: str) -> Mrkdwn:
    """A participant as outcomes name them: "Alice Parkes in VMR_1"."""
    return render("{} in {}", participant, conference)


def done(actor: str, phrase: Mrkdwn) -> Mrkdwn:
    """ "<@U1> muted Alice Parkes in VMR_1.": a command's declared past tense (rendered with its
    target made literal), with its actor."""
    return render("{} {}.", mention(actor), phrase)


def stopped_midway(actor: str, command: str, reference: str) -> Mrkdwn:
    """A command whose pexbot process stopped after sending it to the node, told by another
    process: it may or may not have happened, and it is not sent again."""
    return render(
        "{} asked to {}: the pexbot process running it stopped after sending it to the "
        "management node, so it may or may not have happened. It was not sent again; check "
        "before trying again. (ref {})",
        mention(actor),
        code(command),
        code(reference),
    )


def outdated_button(slash: str) -> Mrkdwn:
    """A click on a button pexbot no longer knows (from a message of an older version)."""
    return render(
        ":hourglass: Nothing was done: that button is out of date (it belongs to an older "
        "version of this message). Run the command again, e.g. {}.",
        code(f"{slash} conferences"),
    )
