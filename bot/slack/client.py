"""The Slack Web API client every process uses (web, clock, `backup run`), and how it retries.

Slack's guidance: honour Retry-After on 429, retry a few 5xx with backoff, and try once more
when a kept-alive connection turns out closed (slack_sdk's default, which a custom list of
handlers would otherwise drop). `bot.slack.replies` applies the same handlers to response URLs.
"""

from __future__ import annotations

import random

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.health import metrics

RETRY_BACKOFF = 0.5
"""Seconds before the first retry of a 5xx or a closed connection; doubled for the next."""
RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2


class _ProportionalJitter(Jitter):
    """Up to half the interval again, so short backoffs stay short."""

    def recalculate(self, duration: float) -> float:
        return float(duration * (1 + random.random() / 2))


class SlackCallObserver(AsyncRetryHandler):
    """Counts every Slack response and failure it is shown (`bot.health.metrics`), and never
    asks for a retry itself: first among the retry handlers, it sees each attempt, a 429 that
    is retried after it included."""

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        metrics.count_slack_response(
            metrics.slack_method(request.url),
            _problem(response, error),
            retry=state.current_attempt > 0,
        )
        return False


def _problem(response: HttpResponse | None, error: Exception | None) -> str | None:
    """`http_429`, `http_500`..., Slack's error code (`ok: false`), `connection`, or None."""
    if response is None:
        return "connection" if error is not None else None
    if response.status_code >= 400:
        return f"http_{response.status_code}"
    body = response.body if isinstance(response.body, dict) else {}
    if body.get("ok", True) is False:
        return str(body.get("error", "")) or "other"
    return None


def retry_handlers() -> list[AsyncRetryHandler]:
    backoff = BackoffRetryIntervalCalculator(RETRY_BACKOFF, jitter=_ProportionalJitter())
    return [
        SlackCallObserver(),  # first: it sees every response, and never retries itself
        AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        AsyncServerErrorRetryHandler(
            max_retry_count=SERVER_ERROR_RETRIES, interval_calculator=backoff
        ),
        AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=backoff),
    ]


def slack_client(token: str | None, base_url: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=base_url, retry_handlers=retry_handlers())


def edit_client(token: str | None, base_url: str) -> AsyncWebClient:
    """For messages kept current from events (`bot.events.coalesce`): no retry on 429, whose
    Retry-After the coalescer waits out itself, to send the newest state and not a stale one."""
    handlers = [h for h in retry_handlers() if not isinstance(h, AsyncRateLimitErrorRetryHandler)]
    return AsyncWebClient(token=token, base_url=base_url, retry_handlers=handlers)
