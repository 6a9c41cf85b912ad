"""Errors from the management node, one small tree.

    PexipError               anything that went wrong talking to the node
    ├── NotFound             400 "Failed to find ..." or 404: no such participant/conference/file
    ├── InvalidRequest       400 with field errors: the node refused what we sent
    ├── AuthError            401, 403, or a redirect to the login page: check the API account
    ├── Unavailable          the node could not be used; `sent` says whether it may have acted
    │   ├── NotSent          connection refused / TLS failure: the request never left
    │   │   └── TLSError     the certificate: not trusted, or (TLSNameMismatch) for other names
    │   ├── NoAnswer         sent, then timeout or dropped connection: may or may not have happened
    │   └── Busy             the node answered 429 or 5xx: it did not act; `retry_after` if given
    └── UnexpectedResponse   a reply we cannot read (malformed JSON, unknown shape)

Every message names what failed (the operation, never the credentials): the client is the one
place that builds them, in `bot.pexip.client`. `TLSError` is the `NotSent` a missing CA causes,
kept apart because its fix (PEXIP_CA_BUNDLE) differs.
"""

from __future__ import annotations

from collections.abc import Mapping


class PexipError(Exception):
    """Base class. `operation` is what we were doing, e.g. "mute participant"."""

    def __init__(self, message: str, *, operation: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation


class NotFound(PexipError):
    """The node has no such object (unknown id, alias or file)."""


class InvalidRequest(PexipError):
    """The node refused the request's content; `fields` keeps each field's messages."""

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        fields: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        super().__init__(message, operation=operation)
        self.fields: dict[str, tuple[str, ...]] = dict(fields or {})


class AuthError(PexipError):
    """The API account was refused (401/403) or sent to the login page."""

    def __init__(self, message: str, *, operation: str = "", status: int | None = None) -> None:
        super().__init__(message, operation=operation)
        self.status = status


class Unavailable(PexipError):
    """The node could not be used. `sent` is False only when the request surely never left."""

    sent: bool | None = None


class NotSent(Unavailable):
    """Connection refused or failed before anything was sent: safe to try again."""

    sent = False


class TLSError(NotSent):
    """The node's certificate was not trusted (set PEXIP_CA_BUNDLE, or fix the certificate)."""


class TLSNameMismatch(TLSError):
    """The certificate is valid but for other names; `certificate_names` are its names."""

    def __init__(
        self, message: str, *, operation: str = "", certificate_names: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, operation=operation)
        self.certificate_names = certificate_names


class NoAnswer(Unavailable):
    """Sent, but no answer came (timeout, dropped connection): the command may have happened."""

    sent = None


class Busy(Unavailable):
    """The node answered that it could not act now (429 or 5xx)."""

    sent = True

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status: int,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, operation=operation)
        self.status = status
        self.retry_after = retry_after


class UnexpectedResponse(PexipError):
    """The node answered with something we cannot read."""
