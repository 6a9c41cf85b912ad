"""Command API: the vendor commands pexbot sends, `POST /api/admin/command/v1/<kind>/<action>/`."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .errors import ApiError
from .models import PROTOCOLS
from .rest import Upload, read_fields, success
from .state import NodeState

PREFIX = "/api/admin/command/v1/"
ROLES = ("guest", "chair")
CALL_TYPES = ("video", "video-only", "audio")
KEEP_ALIVE = (
    "keep_conference_alive",
    "keep_conference_alive_if_multiple",
    "keep_conference_alive_never",
)
ROUTING = ("manual", "routing_rule")
_DIAL_EXTRAS = ("local_display_name", "presentation_url", "dtmf_sequence")

CLIENT_GONE = 499
"""Status recorded for a command whose client left before sending all of it (nginx's code)."""

Recorder = Callable[[str, str, dict[str, Any], int], None]
"""Called with (command, path, body, status code) for every command received."""


class Fields:
    """A command's submitted fields, validated the way the vendor's forms do: every problem
    is collected, then reported together as `{"field": ["message"], ...}`."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self.errors: dict[str, list[str]] = {}

    def text(self, name: str, *, required: bool = False) -> str:
        value = self._data.get(name)
        text = "" if value is None else _as_text(value).strip()
        if required and not text:
            self.error(name, "This field is required.")
        return text

    def choice(self, name: str, choices: Collection[str], default: str) -> str:
        text = self.text(name)
        if text and text not in choices:
            self.error(name, f"Select a valid choice. {text} is not one of the available choices.")
        return text or default

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._data)

    def raw_text(self, name: str) -> str | None:
        """The value as sent (not stripped), or None when absent."""
        value = self._data.get(name)
        return None if value is None else _as_text(value)

    def flag(self, name: str) -> bool:
        return self.text(name).lower() in ("true", "1", "yes", "on")

    def upload(self, name: str) -> Upload:
        value = self._data.get(name)
        if isinstance(value, Upload):
            return value
        if not value:
            self.error(name, "This field is required.")
        raw = _as_text(value or "").encode()
        return Upload(filename="", size=len(raw), head=raw[:512])

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def check(self) -> None:
        """Raise the collected field errors, if any."""
        if self.errors:
            raise ApiError(dict(self.errors))


def dial(node: NodeState, f: Fields) -> Response:
    alias = f.text("conference_alias", required=True)
    destination = f.text("destination", required=True)
    address = f.text("node")
    if address and not _is_ip(address):
        f.error("node", "Enter a valid IPv4 or IPv6 address.")
    location = f.text("system_location")
    protocol = f.choice("protocol", PROTOCOLS, "sip")
    role = f.choice("role", ROLES, "guest")
    extra = {
        "call_type": f.choice("call_type", CALL_TYPES, "video"),
        "keep_conference_alive": f.choice(
            "keep_conference_alive", KEEP_ALIVE, "keep_conference_alive"
        ),
        "routing": f.choice("routing", ROUTING, "manual"),
        **{name: f.text(name) for name in _DIAL_EXTRAS},
    }
    f.check()
    if not address and not location:
        raise ApiError.general("One or both of node and system_location must be specified.")
    participant_id = node.dial(
        alias,
        destination,
        node=address,
        location=location,
        protocol=protocol,
        role=role,
        remote_display_name=f.text("remote_display_name"),
        streaming=f.flag("streaming"),
        extra=extra,
    )
    return success("", {"participant_id": participant_id, "participant_ids": [participant_id]})


def transfer(node: NodeState, f: Fields) -> Response:
    participant_id = f.text("participant_id", required=True)
    alias = f.text("conference_alias", required=True)
    role = f.choice("role", ROLES, "")
    f.check()
    node.transfer(participant_id, alias, role or None)
    return success("Participant transferred.")


LAYOUTS = ("1:0", "1:7", "1:21", "2:21", "1:33", "4:0", "9:0", "16:0", "25:0", "5:7")
"""The layout names real clients send (real-node-facts §5)."""
OVERLAY_TEXT_MAX = 1000
_LAYOUT_FIELDS = ("layout", "host_layout", "guest_layout")
_LAYOUT_FLAGS = (
    "enable_overlay_text",
    "plus_n_pip_enabled",
    "streaming_indicator",
    "recording_indicator",
    "transcribing_indicator",
    "live_captions_indicator",
    "ai_enabled_indicator",
)


def role(node: NodeState, f: Fields) -> Response:
    """`participant/role`: `chair` or `guest` only (a `host` is refused, as a real node does)."""
    participant_id = f.text("participant_id", required=True)
    new_role = f.text("role", required=True)
    if new_role and new_role not in ROLES:
        f.error("role", f"Select a valid choice. {new_role} is not one of the available choices.")
    f.check()
    node.set_role(participant_id, new_role)
    return success("Participant role changed.")


def transform_layout(node: NodeState, f: Fields) -> Response:
    """`conference/transform_layout`: a flat body; a `transforms` wrapper is the client API's
    and is refused as an unknown field, any layout name not in the list too."""
    conference_id = f.text("conference_id", required=True)
    if len(conference_id) > 200:
        f.error("conference_id", "Ensure this value has at most 200 characters.")
    if "transforms" in f.names:
        f.error("transforms", "Unknown field.")
    layouts = {name: f.choice(name, LAYOUTS, "") for name in _LAYOUT_FIELDS}
    text = f.raw_text("free_form_overlay_text")
    if text is not None and len(text) > OVERLAY_TEXT_MAX:
        f.error(
            "free_form_overlay_text",
            f"Ensure this value has at most {OVERLAY_TEXT_MAX} characters (it has {len(text)}).",
        )
    flags = {name: f.flag(name) for name in _LAYOUT_FLAGS if name in f.names}
    f.check()
    node.transform_layout(conference_id, layouts, text, flags)
    return success("Conference layout changed.")


def _on_one(
    field: str,
    action: Callable[[NodeState, str], None],
    message: str,
    status_code: int = 202,
) -> Callable[[NodeState, Fields], Response]:
    """A command that names one participant or conference by its id in `field`."""

    def handler(node: NodeState, f: Fields) -> Response:
        target_id = f.text(field, required=True)
        f.check()
        action(node, target_id)
        return success(message, status_code=status_code)

    return handler


def _participant_command(
    action: Callable[[NodeState, str], None], message: str, status_code: int = 202
) -> Callable[[NodeState, Fields], Response]:
    return _on_one("participant_id", action, message, status_code)


def _conference_command(
    action: Callable[[NodeState, str], None], message: str, status_code: int = 202
) -> Callable[[NodeState, Fields], Response]:
    return _on_one("conference_id", action, message, status_code)


def sync(node: NodeState, f: Fields) -> Response:
    template_id = f.text("conference_sync_template_id", required=True)
    f.check()
    node.sync(template_id)
    return success("Conference sync started.")


def backup_create(node: NodeState, f: Fields) -> Response:
    passphrase = f.text("passphrase", required=True)
    f.check()
    node.backups.create(passphrase)
    return success("Backup started.")


def backup_restore(node: NodeState, f: Fields) -> Response:
    package = f.upload("package")
    passphrase = f.text("passphrase", required=True)
    f.check()
    node.backups.check_restore(package.head, package.size, passphrase)
    return success("Backup restore started.")


COMMANDS: dict[str, Callable[[NodeState, Fields], Response]] = {
    "participant/dial": dial,
    "participant/disconnect": _participant_command(
        NodeState.disconnect_participant, "Participant disconnected.", 200
    ),
    "participant/mute": _participant_command(
        lambda n, p: n.set_muted(p, True), "Participant muted."
    ),
    "participant/unmute": _participant_command(
        lambda n, p: n.set_muted(p, False), "Participant unmuted."
    ),
    "participant/unlock": _participant_command(NodeState.admit, "Participant admitted."),
    "participant/transfer": transfer,
    "participant/role": role,
    "conference/disconnect": _conference_command(
        NodeState.disconnect_conference, "Conference disconnected.", 200
    ),
    "conference/mute_guests": _conference_command(
        lambda n, c: n.set_guests_muted(c, True), "Guests muted."
    ),
    "conference/unmute_guests": _conference_command(
        lambda n, c: n.set_guests_muted(c, False), "Guests unmuted."
    ),
    "conference/lock": _conference_command(
        lambda n, c: n.set_locked(c, True), "Conference locked."
    ),
    "conference/unlock": _conference_command(
        lambda n, c: n.set_locked(c, False), "Conference unlocked."
    ),
    "conference/sync": sync,
    "conference/transform_layout": transform_layout,
    "platform/backup_create": backup_create,
    "platform/backup_restore": backup_restore,
}


def routes(node: NodeState, record: Recorder) -> list[BaseRoute]:
    """One POST route per command; each call is reported to `record`."""

    def endpoint(command: str) -> Callable[[Request], Awaitable[Response]]:
        handler = COMMANDS[command]

        async def run(request: Request) -> Response:
            body: dict[str, Any] = {}
            status_code = 500
            try:
                body = await read_fields(request)
                response = handler(node, Fields(body))
                status_code = response.status_code
                return response
            except ApiError as exc:
                status_code = exc.status_code
                raise
            except ClientDisconnect:
                status_code = CLIENT_GONE  # the client left before its body arrived
                return Response(status_code=400)  # never sent: there is no one to send it to
            finally:
                record(command, request.url.path, _loggable(body), status_code)

        return run

    return [Route(f"{PREFIX}{name}/", endpoint(name), methods=["POST"]) for name in COMMANDS]


def _loggable(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as JSON-able data: an uploaded file becomes its name and size."""
    return {
        key: {"filename": value.filename, "size": value.size}
        if isinstance(value, Upload)
        else value
        for key, value in body.items()
    }


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
