"""No error and no command is left without its words."""

from __future__ import annotations

import inspect

import pytest

from bot import messages
from bot.pexip import errors
from handlers.registry import REGISTRY, Spec


def every_pexip_error() -> list[type[errors.PexipError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.PexipError)
    ]


def instance(cls: type[errors.PexipError]) -> errors.PexipError:
    if cls is errors.Busy:
        return errors.Busy("mute participant: HTTP 503", operation="mute participant", status=503)
    return cls("mute participant: what the node said", operation="mute participant")


@pytest.mark.parametrize("cls", every_pexip_error(), ids=lambda cls: cls.__name__)
def test_every_node_error_has_its_own_sentence(cls: type[errors.PexipError]) -> None:
    assert cls in messages.PEXIP_SENTENCES, f"{cls.__name__} has no sentence in bot/messages.py"
    sentence = messages.pexip_sentence(instance(cls))
    assert sentence and "{" not in sentence
    assert "mute participant:" not in sentence  # our own prefix is not repeated to the user


def test_more_specific_errors_come_first() -> None:
    order = list(messages.PEXIP_SENTENCES)
    for cls in order:
        for parent in cls.__mro__[1:]:
            if parent in messages.PEXIP_SENTENCES:
                assert order.index(cls) < order.index(parent), (cls, parent)


def test_an_unanswered_command_is_never_called_a_failure() -> None:
    said = messages.command_failed("U1", "mute Bob", instance(errors.NoAnswer))
    assert "may or may not have happened" in said
    assert "did not happen" not in said
    assert "the participant list" in said
    backup = errors.NoAnswer("create backup: timeout", operation="create backup")
    assert "the backup list" in messages.command_failed("U1", "back up", backup)


def test_a_refused_command_says_it_did_not_happen() -> None:
    refused = errors.InvalidRequest("mute participant: nope", operation="mute participant")
    assert "did not happen" in messages.command_failed("U1", "mute Bob", refused)


@pytest.mark.parametrize(
    "spec",
    [spec for spec in REGISTRY if spec.kind == "action"],
    ids=lambda spec: spec.key,
)
def test_every_command_that_acts_has_its_outcome_and_attempt_wording(spec: Spec) -> None:
    assert spec.said is not None
    assert messages.done("U1", spec.said.done.format(target="VMR_1")).startswith("<@U1> ")
    assert spec.said.attempt.format(target="VMR_1")
