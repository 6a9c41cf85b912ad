"""What the node's answers mean: the one map from transport failures and status codes to
`bot.pexip.errors`, and the readers of a reply's JSON. `bot.pexip.client` calls nothing else to
decide what happened.

Transport failures keep "never sent" (connection refused, TLS) apart from "sent, no answer"
(timeout, dropped connection): only the first is safe to send again.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot.pexip import errors

M = TypeVar("M", bound=BaseModel)


HOSTNAME_MISMATCH_CODES = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


def transport_error(
    exc: httpx.HTTPError,
    operation: str,
    *,
    ca_bundle_set: bool = False,
    certificate_names: Sequence[str] = (),
) -> errors.PexipError:
    """Map an httpx failure, keeping apart 'never sent' and 'sent, no answer'.

    A certificate failure says what is wrong: the name (and which names the certificate has,
    `certificate_names`), or the CA (advising PEXIP_CA_BUNDLE only when it is not set)."""
    verification = certificate_failure(exc) if isinstance(exc, httpx.ConnectError) else None
    if verification is not None:
        return _tls_error(verification, operation, ca_bundle_set, certificate_names)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return _not_sent(operation, type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return _no_answer_in_time(operation)
    return _broke_off(operation, type(exc).__name__)


def socket_error(
    exc: BaseException,
    operation: str,
    *,
    connected: bool,
    ca_bundle_set: bool = False,
    certificate_names: Sequence[str] = (),
) -> errors.PexipError:
    """The same map for a failure of the standard library's `http.client` (the backup
    download, `bot.pexip.download`): before the connection (TLS included) was made, nothing
    was sent; after, the request may have left."""
    verification = None if connected else certificate_failure(exc)
    if verification is not None:
        return _tls_error(verification, operation, ca_bundle_set, certificate_names)
    if not connected:
        return _not_sent(operation, type(exc).__name__)
    if isinstance(exc, TimeoutError):
        return _no_answer_in_time(operation)
    return _broke_off(operation, type(exc).__name__)


def _not_sent(operation: str, what: str) -> errors.NotSent:
    return errors.NotSent(
        f"{operation}: could not connect to the management node ({what}); nothing was sent",
        operation=operation,
    )


def _no_answer_in_time(operation: str) -> errors.NoAnswer:
    return errors.NoAnswer(
        f"{operation}: the management node did not answer in time; it may or may not have acted",
        operation=operation,
    )


def _broke_off(operation: str, what: str) -> errors.NoAnswer:
    return errors.NoAnswer(
        f"{operation}: the connection to the management node failed mid-request ({what}); "
        "it may or may not have acted",
        operation=operation,
    )


def _tls_error(
    verification: ssl.SSLCertVerificationError,
    operation: str,
    ca_bundle_set: bool,
    names: Sequence[str],
) -> errors.TLSError:
    if is_name_mismatch(verification):
        has = (
            f"the certificate is for {', '.join(names)}"
            if names
            else "pexbot could not read which names the certificate has"
        )
        return errors.TLSNameMismatch(
            f"{operation}: the name in PEXIP_MANAGER_URL does not match the management node's "
            f"certificate; {has}",
            operation=operation,
            certificate_names=tuple(names),
        )
    reason = verification.verify_message or "not trusted"
    if ca_bundle_set:
        return errors.TLSError(
            f"{operation}: the management node's TLS certificate is not signed by the CA in "
            f"PEXIP_CA_BUNDLE ({reason})",
            operation=operation,
        )
    return errors.TLSError(
        f"{operation}: the management node's TLS certificate is not trusted ({reason}); "
        "set PEXIP_CA_BUNDLE to the CA that signed it",
        operation=operation,
    )


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error behind a connection failure, if that was it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def is_name_mismatch(verification: ssl.SSLCertVerificationError | None) -> bool:
    return verification is not None and (
        getattr(verification, "verify_code", None) in HOSTNAME_MISMATCH_CODES
        or "mismatch" in str(getattr(verification, "verify_message", "")).lower()
    )


def raise_for_answer(response: httpx.Response, operation: str) -> None:
    """The one map from the node's status codes to errors."""
    status = response.status_code
    if response.is_success:
        return
    if response.is_redirect:
        location = response.headers.get("location", "")
        if "login" in location:
            raise errors.AuthError(
                f"{operation}: the node sent us to its login page; check PEXIP_USERNAME and "
                "PEXIP_PASSWORD",
                operation=operation,
                status=status,
            )
        raise errors.UnexpectedResponse(
            f"{operation}: unexpected redirect (HTTP {status})", operation=operation
        )
    if status in (401, 403):
        what = "refused the API credentials" if status == 401 else "does not allow this account"
        raise errors.AuthError(
            f"{operation}: the node {what} (HTTP {status})", operation=operation, status=status
        )
    if status == 404:
        raise errors.NotFound(f"{operation}: not found on the node", operation=operation)
    if status == 429 or status >= 500:
        raise errors.Busy(
            f"{operation}: the node is unavailable (HTTP {status})",
            operation=operation,
            status=status,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    _raise_refusal(response, operation)


def answer_error(
    status: int, headers: Sequence[tuple[str, str]], body: bytes, operation: str
) -> errors.PexipError:
    """What a non-2xx answer received other than through httpx (the backup download) means:
    the same map as `raise_for_answer`, from its status, headers and (the start of) its body."""
    kept = [(name, value) for name, value in headers if name.lower() not in _FRAMING]
    try:
        raise_for_answer(httpx.Response(status, headers=kept, content=body), operation)
    except errors.PexipError as exc:
        return exc
    return errors.UnexpectedResponse(
        f"{operation}: unexpected answer (HTTP {status})", operation=operation
    )


_FRAMING = ("content-length", "transfer-encoding")
"""How the answer was framed on the wire: not true of the body `answer_error` is given."""


def _raise_refusal(response: httpx.Response, operation: str) -> None:
    """A 4xx with the node's own words: Tastypie field errors or {"error": "..."}."""
    fields = _field_errors(response)
    text = (
        "; ".join(
            message if name in ("error", "__all__") else f"{name}: {message}"
            for name, messages in fields.items()
            for message in messages
        )
        or f"refused (HTTP {response.status_code})"
    )
    if any("failed to find" in m.lower() for messages in fields.values() for m in messages):
        raise errors.NotFound(f"{operation}: {text}", operation=operation)
    raise errors.InvalidRequest(f"{operation}: {text}", operation=operation, fields=fields)


def _field_errors(response: httpx.Response) -> dict[str, tuple[str, ...]]:
    try:
        body = response.json()
    except ValueError:
        return {}
    # Tastypie may nest field errors under the resource name: {"dial": {"node": [...]}}.
    if isinstance(body, dict) and len(body) == 1:
        (only,) = body.values()
        if isinstance(only, dict):
            body = only
    if not isinstance(body, dict):
        return {}
    fields: dict[str, tuple[str, ...]] = {}
    for name, value in body.items():
        if name in ("status", "data"):
            continue
        if name == "message" and body.get("status") == "error":
            name = "error"
        messages = value if isinstance(value, list) else [value]
        fields[str(name)] = tuple(str(message) for message in messages if message)
    return {name: messages for name, messages in fields.items() if messages}


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def decode(response: httpx.Response, operation: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise errors.UnexpectedResponse(
            f"{operation}: the node's reply is not valid JSON (HTTP {response.status_code})",
            operation=operation,
        ) from None


def validate(model: type[M], data: Any, operation: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "reply"
        raise errors.UnexpectedResponse(
            f"{operation}: the node's reply has an unexpected shape ({where}: {first['msg']})",
            operation=operation,
        ) from None
