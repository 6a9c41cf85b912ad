"""The management-node client: one keep-alive connection pool, a concurrency cap, typed errors.

Everything goes through `_send`, which holds a concurrency slot; `bot.pexip.answers` is the one
place that turns transport failures and status codes into `bot.pexip.errors`. Following the
vendor's guidance (serialise requests, reuse the HTTPS connection), the pool holds at most
`max_concurrency` connections and at most that many requests are in flight; the rest wait.
A backup download takes none of those slots (INTERFACE 2): it is received over a connection of
its own, off the event loop (`download`, `bot.pexip.download`), one download at a time, so a long
download never holds up a moderator's command; and it gives way to moderation: between pieces
it waits (a while at most) while a lookup or command of this client, or a command of
`moderation` (the command queue), is under way (`bot.pexip.give_way`). TLS for both is decided
in `bot.pexip.tls`.

Retries: reads retry with backoff while the node is unavailable. Commands change state, so a
command is retried only when it surely never left (connection refused): a second `dial` after a
timeout could place a second call.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel

from bot.config import PexipSettings
from bot.health import metrics
from bot.pexip import answers, errors, tls, upload
from bot.pexip import download as file_download
from bot.pexip.commands import BackupRestore, Command
from bot.pexip.give_way import GiveWay, Moderation, ModerationFirst, Requests, Work
from bot.pexip.models import CommandResult

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

COMMAND_ROOT = "/api/admin/command/v1/"
USER_AGENT = "pexbot/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    """How reads retry while the node is unavailable (commands never follow this)."""

    attempts: int = 3
    backoff: float = 0.25
    max_wait: float = 5.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        return min(self.max_wait, self.backoff * 2.0 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def _http_client(settings: PexipSettings, tls_context: ssl.SSLContext) -> httpx.AsyncClient:
    connections = settings.max_concurrency
    return httpx.AsyncClient(
        base_url=settings.manager_url,
        auth=httpx.BasicAuth(settings.username, settings.password.get_secret_value()),
        timeout=httpx.Timeout(settings.timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        verify=tls_context,
        follow_redirects=False,
        headers=_HEADERS,
    )


_HEADERS = {"Accept": "application/json", "User-Agent": USER_AGENT}


def _basic_auth(settings: PexipSettings) -> str:
    """The Authorization header's value, as httpx's BasicAuth writes it."""
    pair = f"{settings.username}:{settings.password.get_secret_value()}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


@dataclass(frozen=True)
class Readable(Generic[M]):
    """The objects of a list that could be read, and how many could not (skipped, logged)."""

    items: list[M]
    unreadable: int = 0


class Slots(Protocol):
    """The concurrency cap: `async with slots.hold()` around each request. This process's own
    by default; `bot.coordination.node_slots` shares one across processes."""

    def hold(self) -> AbstractAsyncContextManager[None]: ...


class _OwnSlots:
    def __init__(self, cap: int) -> None:
        self._slots = asyncio.Semaphore(cap)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._slots:
            yield


BeforeChange = Callable[[], Awaitable[None]]
"""Awaited in the slot just before a change (POST, DELETE) leaves for the node: the command
journal marks that the change may have reached the node, or raises to stop it being sent."""


class PexipClient:
    """One per management node and process; `await close()` on shutdown."""

    def __init__(
        self,
        settings: PexipSettings,
        *,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        slots: Slots | None = None,
        before_change: BeforeChange | None = None,
        moderation: Moderation | None = None,
        give_way: GiveWay | None = None,
    ) -> None:
        cap = settings.max_concurrency
        self.base_url = settings.manager_url
        self._settings = settings
        self.page_size = page_size
        self._retry = retry or RetryPolicy()
        self._slots = slots or _OwnSlots(cap)
        self._before_change = before_change
        self._tls = tls.context(settings)
        self._http = _http_client(settings, self._tls)
        self._download_turn = asyncio.Lock()  # one download at a time waits, not times out
        self._requests = Requests()
        self._moderation = moderation
        work: list[Work] = [self._requests] + ([moderation] if moderation is not None else [])
        self._moderation_first = ModerationFirst(work, give_way or GiveWay())

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> PexipClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- reads -----------------------------------------------------------------------------

    async def get_json(
        self, path: str, *, operation: str, params: Mapping[str, str | int] | None = None
    ) -> Any:
        """GET with retries while the node is unavailable; returns the decoded JSON."""
        response = await self._with_retries(
            lambda: self._send("GET", path, operation=operation, params=params),
            operation=operation,
        )
        return answers.decode(response, operation)

    async def get_model(
        self,
        path: str,
        model: type[M],
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
    ) -> M:
        return answers.validate(
            model, await self.get_json(path, operation=operation, params=params), operation
        )

    async def get_all(
        self,
        path: str,
        model: type[M],
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
    ) -> list[M]:
        """Every object of a Tastypie list, following `meta.next` page by page; one object
        that cannot be read fails the whole read (see `get_readable` for listings)."""
        objects = await self._all_objects(path, operation=operation, params=params)
        return [answers.validate(model, obj, operation) for obj in objects]

    async def get_readable(
        self,
        path: str,
        model: type[M],
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
    ) -> Readable[M]:
        """Like `get_all`, but an object that cannot be read is skipped and counted, so one
        odd participant never hides the others."""
        objects = await self._all_objects(path, operation=operation, params=params)
        items: list[M] = []
        unreadable = 0
        for obj in objects:
            try:
                items.append(answers.validate(model, obj, operation))
            except errors.UnexpectedResponse as exc:
                unreadable += 1
                log.warning("%s: skipped one object: %s", operation, exc.message)
        return Readable(items, unreadable)

    async def _all_objects(
        self, path: str, *, operation: str, params: Mapping[str, str | int] | None
    ) -> list[Any]:
        query: dict[str, str | int] | None = {"limit": self.page_size, **(params or {})}
        objects: list[Any] = []
        next_path: str | None = path
        while next_path is not None:
            page = await self.get_json(next_path, operation=operation, params=query)
            found, next_path = self._page(page, operation)
            objects.extend(found)
            query = None  # `next` carries the query string (params={} would erase it)
        return objects

    def _page(self, page: Any, operation: str) -> tuple[list[Any], str | None]:
        if not isinstance(page, dict) or not isinstance(page.get("objects"), list):
            raise errors.UnexpectedResponse(
                f"{operation}: the node's reply is not a list of objects", operation=operation
            )
        meta = page.get("meta") or {}
        next_url = meta.get("next") if isinstance(meta, dict) else None
        if next_url and not self._same_origin(next_url):
            raise errors.UnexpectedResponse(
                f"{operation}: the node pointed the next page at another server",
                operation=operation,
            )
        return page["objects"], next_url or None

    def _same_origin(self, url: str) -> bool:
        """Credentials go only to our node: a `next` link elsewhere is refused."""
        target, ours = urlsplit(url), urlsplit(self.base_url)
        return not target.netloc or (target.scheme, target.netloc) == (ours.scheme, ours.netloc)

    async def download(
        self, path: str, destination: Path, *, operation: str
    ) -> file_download.Received:
        """GET `path` into the file `destination` (backup downloads), over a connection of its
        own, received and hashed in worker threads (`bot.pexip.download`), without taking a
        concurrency slot; one download at a time. The command that downloads (or waits for its
        turn) is set aside from the moderation it gives way to."""
        set_aside = self._moderation.set_aside() if self._moderation else nullcontext()
        target = file_download.Target(
            url=file_download.node_url(self.base_url, path),
            headers={**_HEADERS, "Authorization": _basic_auth(self._settings)},
            timeout=self._settings.timeout,
            tls=self._tls,
        )
        with set_aside:
            async with self._download_turn:
                try:
                    return await file_download.receive(target, destination, self._moderation_first)
                except file_download.Answered as answer:
                    raise answers.answer_error(
                        answer.status, answer.headers, answer.body, operation
                    ) from None
                except file_download.Failed as failure:
                    raise await self._socket_error(failure, operation) from failure.cause

    # --- changes -------------------------------------------------------------------------

    async def command(self, command: Command) -> CommandResult:
        """POST a command. Retried only if it surely never reached the node."""
        operation = command.operation
        send = self._command_sender(command)
        try:
            response = await send()
        except errors.NotSent as exc:
            if isinstance(exc, errors.TLSError):
                raise
            log.info("%s: not sent (%s); trying once more", operation, exc.message)
            response = await send()
        result = answers.validate(CommandResult, answers.decode(response, operation), operation)
        if result.status != "success":
            raise errors.InvalidRequest(
                f"{operation}: the node answered: {result.message or result.status}",
                operation=operation,
            )
        return result

    def _command_sender(self, command: Command) -> Callable[[], Any]:
        path = COMMAND_ROOT + command.path
        if isinstance(command, BackupRestore):
            return lambda: self._send_restore(path, command)
        return lambda: self._send("POST", path, operation=command.operation, json=command.body())

    async def _send_restore(self, path: str, command: BackupRestore) -> httpx.Response:
        """The package is streamed from disk, read in a thread a piece at a time."""
        form = upload.MultipartFile(fields=command.body(), name="package", path=command.package)
        return await self._send(
            "POST",
            path,
            operation=command.operation,
            content=form.stream(),
            headers=form.headers(),
        )

    async def write(
        self, method: str, path: str, body: dict[str, Any], *, operation: str
    ) -> httpx.Response:
        """POST, PUT or PATCH a configuration resource, once (a change is never retried)."""
        return await self._send(method, path, operation=operation, json=body)

    async def delete(self, path: str, *, operation: str) -> None:
        """DELETE once; a second try after an unanswered first could hit 404, so no retry."""
        await self._send("DELETE", path, operation=operation)

    # --- the chokepoint ------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, *, operation: str, **kwargs: Any
    ) -> httpx.Response:
        kind = "lookup" if method == "GET" else "command"
        with self._requests.counted():
            async with self._slots.hold():
                if method != "GET" and self._before_change is not None:
                    await self._before_change()
                try:
                    with metrics.node_request(kind):
                        response = await self._http.request(method, path, **kwargs)
                except httpx.HTTPError as exc:
                    raise await self._transport_error(exc, operation) from exc
        answers.raise_for_answer(response, operation)
        return response

    async def _transport_error(self, exc: httpx.HTTPError, operation: str) -> errors.PexipError:
        return answers.transport_error(
            exc,
            operation,
            ca_bundle_set=self._settings.ca_bundle is not None,
            certificate_names=await self._names_if_mismatched(exc),
        )

    async def _socket_error(
        self, failure: file_download.Failed, operation: str
    ) -> errors.PexipError:
        return answers.socket_error(
            failure.cause,
            operation,
            connected=failure.connected,
            ca_bundle_set=self._settings.ca_bundle is not None,
            certificate_names=await self._names_if_mismatched(failure.cause),
        )

    async def _names_if_mismatched(self, exc: BaseException) -> list[str]:
        """After a certificate name mismatch, the names the certificate has (for the message)."""
        if not answers.is_name_mismatch(answers.certificate_failure(exc)):
            return []
        return await tls.names_on_certificate(self._settings)

    async def _with_retries(self, send: Callable[[], Any], *, operation: str) -> httpx.Response:
        attempt = 1
        while True:
            try:
                response: httpx.Response = await send()
                return response
            except errors.Unavailable as exc:
                if isinstance(exc, errors.TLSError):
                    raise
                wait = self._retry.delay(attempt, getattr(exc, "retry_after", None))
                if wait is None:
                    raise
                log.info("%s: %s; retry %d in %.2fs", operation, exc.message, attempt, wait)
                await asyncio.sleep(wait)
                attempt += 1
