"""The vendor's error bodies: Tastypie field errors and the plain `{"error": ...}` form."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the management node refuses; `body` is the JSON it answers with."""

    def __init__(self, body: dict[str, Any], status_code: int = 400) -> None:
        super().__init__(body)
        self.body = body
        self.status_code = status_code

    @classmethod
    def field(cls, name: str, message: str) -> ApiError:
        """`{"<name>": ["<message>"]}`, as Tastypie reports a bad form field."""
        return cls({name: [message]})

    @classmethod
    def general(cls, message: str) -> ApiError:
        """`{"error": "<message>"}`, for errors not tied to one field."""
        return cls({"error": message})


def not_found(what: str) -> str:
    """The vendor's message for an unknown id, e.g. "Failed to find participant."."""
    return f"Failed to find {what}."
