"""What `GET /metrics` serves (the web process) and `pexbot clock --metrics-port N` (the clock):
the process-wide metrics of `bot.health.metrics` and the process's own, plus the backups read
from the database at each scrape, so the web process shows what the clock did."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.backup.history import BackupHistory, HistoryError
from bot.config import ConfigError, Settings

__all__ = ["CONTENT_TYPE_LATEST", "BackupCollector", "exposition", "render"]

log = logging.getLogger(__name__)


class BackupCollector(Collector):
    """Backup runs by outcome and the last success, from `backup_runs` at each scrape."""

    def __init__(self, history: BackupHistory) -> None:
        self._history = history

    def collect(self) -> Iterable[Metric]:
        try:
            totals, last_success = self._history.outcome_totals()
        except HistoryError as exc:
            log.warning("metrics: backups left out, the history cannot be read: %s", exc)
            return
        runs = CounterMetricFamily(
            "pexbot_backups", "Backup runs recorded, by outcome.", labels=["outcome"]
        )
        for outcome in ("success", "failure"):
            runs.add_metric([outcome], totals.get(outcome, 0))
        yield runs
        yield GaugeMetricFamily(
            "pexbot_backup_last_success_timestamp_seconds",
            "When the last successful backup finished, as a Unix timestamp (0: never).",
            value=last_success.timestamp() if last_success is not None else 0.0,
        )


class _Shared(Collector):
    """The process-wide metrics: pexbot's own and the process collector's."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(history: BackupHistory | None) -> CollectorRegistry:
    """What one process serves: the shared metrics, and the backups when it has a database."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Shared())
    if history is not None:
        registry.register(BackupCollector(history))
    return registry


@contextmanager
def serve_metrics(settings: Settings, port: int | None) -> Iterator[None]:
    """`pexbot clock --metrics-port N`: metrics on http://0.0.0.0:N/metrics (prometheus-client's
    own server, in a thread) while the block runs. Nothing when `port` is None."""
    if port is None:
        yield
        return
    history = BackupHistory(settings.database_url)
    try:
        server, thread = start_http_server(port, registry=exposition(history))
    except OSError as exc:
        history.close()
        raise ConfigError(f"--metrics-port {port}: cannot listen there ({exc.strerror})") from None
    log.info("serving metrics on port %d", port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        history.close()


def render(registry: Collector) -> bytes:
    """The text format. Blocking (it reads the database): call it in a worker thread."""
    return generate_latest(registry)
