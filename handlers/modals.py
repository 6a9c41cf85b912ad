"""The dial and transfer forms: views, and their submissions read back into typed commands.

A submission that does not validate is answered inline (`response_action: errors`, block id →
message) before anything is sent to the node. `private_metadata` carries where the form was
opened (channel, listing to refresh) so the outcome is posted there.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.slack import limits
from bot.slack.limits import clip, units
from bot.slack.replies import Interaction
from handlers.commands import CALL_TYPES, PROTOCOLS, ROLES, ParticipantRef

DIAL_CALLBACK = "dial_form"
TRANSFER_CALLBACK = "transfer_form"
CONFERENCE_OPTIONS = "conference_choice"  # external select, served by the options handler

View = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


def _plain(text: str, limit: int = 150) -> dict[str, str]:
    return {"type": "plain_text", "text": clip(text, limit)}


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label, limits.OPTION_TEXT), "value": value}


def _select(action_id: str, choices: list[str], initial: str | None = None) -> dict[str, Any]:
    """A name longer than an option's value may be is left out (cut, it would name another
    location); it can still be typed: `dial ... location=<name>`."""
    choices = [choice for choice in choices if units(choice) <= limits.OPTION_VALUE]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "options": [_option(choice, choice) for choice in choices[: limits.OPTIONS]],
    }
    if initial in choices:
        element["initial_option"] = _option(initial, initial)
    return element


def _input(
    block_id: str, label: str, element: dict[str, Any], optional: bool = False
) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": element,
        "optional": optional,
    }


def _text_input(action_id: str, placeholder: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "action_id": action_id, "placeholder": _plain(placeholder)}


def _conference_picker(action_id: str = CONFERENCE_OPTIONS) -> dict[str, Any]:
    return {
        "type": "external_select",
        "action_id": action_id,
        "min_query_length": 0,
        "placeholder": _plain("Conference alias"),
    }


def metadata(interaction: Interaction, **extra: str) -> str:
    """Where the form came from: the channel, and the listing (its response_url and command)
    to refresh once the form's command is done."""
    origin = {
        "channel": interaction.channel_id,
        "refresh": interaction.refresh,
        "response_url": interaction.response_url,
    }
    return json.dumps({**origin, **extra})


def read_metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def loading(title: str) -> View:
    return {
        "type": "modal",
        "title": _plain(title),
        "blocks": [{"type": "section", "text": _plain("Loading…")}],
    }


def dial_form(locations: list[str], default_location: str | None, private_metadata: str) -> View:
    blocks = [
        _input("conference", "Conference", _conference_picker()),
        _input("destination", "Destination", _text_input("value", "alice@example.com")),
        _input("protocol", "Protocol", _select("value", list(PROTOCOLS), "sip")),
        _input("role", "Role", _select("value", list(ROLES), "guest")),
        _input("call_type", "Call type", _select("value", list(CALL_TYPES), "video")),
    ]
    if locations:
        blocks.append(
            _input(
                "location",
                "Place the call from",
                _select("value", locations, default_location),
                optional=True,
            )
        )
    blocks.append(
        _input("name", "Display name", _text_input("value", "Alice Parkes"), optional=True)
    )
    return {
        "type": "modal",
        "callback_id": DIAL_CALLBACK,
        "title": _plain("Dial"),
        "submit": _plain("Dial"),
        "close": _plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def transfer_form(participant_label: str, private_metadata: str) -> View:
    return {
        "type": "modal",
        "callback_id": TRANSFER_CALLBACK,
        "title": _plain("Transfer"),
        "submit": _plain("Transfer"),
        "close": _plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": [
            {
                "type": "section",
                "text": _plain(f"Move {participant_label} to another conference.", 3000),
            },
            _input("to_alias", "Target conference alias", _conference_picker()),
            _input("role", "Role there", _select("value", list(ROLES)), optional=True),
        ],
    }


def _value(state: dict[str, Any], block_id: str) -> str | None:
    """The value of a block's only element: text, static or external select."""
    element = next(iter((state.get(block_id) or {}).values()), None)
    if not isinstance(element, dict):
        return None
    option = element.get("selected_option")
    value = option.get("value") if isinstance(option, dict) else element.get("value")
    return value.strip() or None if isinstance(value, str) else None


class FormErrors(Exception):
    """Block id → message, shown under the fields."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _errors_from(exc: ValidationError, fields: dict[str, str]) -> FormErrors:
    found: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        block = fields.get(name, next(iter(fields.values())))
        found.setdefault(block, _wording(error))
    return FormErrors(found)


def _wording(error: Any) -> str:
    if error.get("type") == "missing":
        return "Required."
    if error["loc"] and error["loc"][0] == "node":
        return "Must be an IP address."
    return str(error["msg"]).removeprefix("Value error, ")


def require_origin(channel: str | None, response_url: str | None, first_block: str) -> None:
    """`FormErrors` when the form no longer says where it was opened: its outcome could be told
    nowhere (a form pexbot opened always carries its channel or response URL)."""
    if not (channel or response_url):
        said = "This form no longer says where it was opened: close it and run the command again."
        raise FormErrors({first_block: said})


def read_dial(view: dict[str, Any], default_location: str | None, model: type[M]) -> M:
    """The dial form's submission as the `dial` command (`model`), or `FormErrors`."""
    state = (view.get("state") or {}).get("values") or {}
    values = {
        "conference_alias": _value(state, "conference"),
        "destination": _value(state, "destination"),
        "protocol": _value(state, "protocol") or "sip",
        "role": _value(state, "role") or "guest",
        "call_type": _value(state, "call_type") or "video",
        "location": _value(state, "location"),
        "name": _value(state, "name"),
    }
    if values["location"] is None and default_location is None:
        raise FormErrors(
            {
                "location"
                if "location" in state
                else "conference": "Choose where to place the call from."
            }
        )
    fields = {key: key if key != "conference_alias" else "conference" for key in values}
    try:
        return model.model_validate(
            {key: value for key, value in values.items() if value is not None}
        )
    except ValidationError as exc:
        raise _errors_from(exc, fields) from None


def read_transfer(view: dict[str, Any], participant_id: str, model: type[M]) -> M:
    """The transfer form's submission as the `transfer` command (`model`), or `FormErrors`."""
    state = (view.get("state") or {}).get("values") or {}
    values = {"to_alias": _value(state, "to_alias"), "role": _value(state, "role")}
    try:
        return model.model_validate(
            {
                "participant": ParticipantRef(query=participant_id),
                **{key: value for key, value in values.items() if value is not None},
            }
        )
    except ValidationError as exc:
        raise _errors_from(exc, {"to_alias": "to_alias", "role": "role"}) from None
