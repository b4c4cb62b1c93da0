"""Prometheus metrics (``prometheus_client``): what a process counts, and what the database says.

Counted by the process that does the work, from the moment it starts:

* ``cstar_delivery_attempts_total{outcome}``: attempts recorded, by what they meant for their
  delivery (``succeeded``, ``retrying``: failed and to be retried, ``failed``: failed for good);
* ``cstar_delivery_attempt_duration_seconds``: how long attempts took, from sending to the
  answer (or the error);
* ``cstar_dispatcher_cycle_duration_seconds``: the dispatcher's cycle (record and claim, one
  transaction);
* ``cstar_published_events_total``: events accepted (a replayed idempotency key is not counted);
* ``cstar_http_request_duration_seconds{route,method,status}``: API and dashboard requests, by
  route template (``/api/v1/teams/{teamId}/events``), never by raw path, so that the labels
  stay bounded whatever clients send: unknown paths are ``route="unmatched"``, methods outside
  the usual few are ``OTHER``.

Read from the database when scraped (at most once per ``SNAPSHOT_TTL``), all processes
together: ``cstar_pending_deliveries``, ``cstar_oldest_pending_delivery_age_seconds``,
``cstar_delivery_lag_seconds`` (how long the most overdue delivery has been due) and
``cstar_endpoints{state="failing"|"disabled"}`` (counts, not one series per endpoint).

With ``cstar serve --workers N`` the processes write their counts to files in the directory
named by ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode), and whichever
process is scraped adds them up.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from cstar.server.domain.clock import Clock
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.store.contract import AttemptOutcome
from cstar.server.store.queue_stats import QueueSnapshot

#: prometheus_client's multiprocess mode: set (by ``--workers``) before the processes start.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: How long a database snapshot is reused: scrapes never cost more than one read per interval.
SNAPSHOT_TTL = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds; the dashboard's latency buckets (``domain/stats.py``) and a few finer ones.
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CYCLE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

_OUTCOME = {
    DeliveryStatus.SUCCEEDED: "succeeded",
    DeliveryStatus.PENDING: "retrying",
    DeliveryStatus.PAUSED: "retrying",
    DeliveryStatus.FAILED: "failed",
}


class Metrics:
    """One process's metrics. ``registry`` is what ``render`` exposes; in multiprocess mode the
    counters are written to files instead, and the registry reads every process's."""

    def __init__(self, clock: Clock, *, multiprocess_dir: str | None = None) -> None:
        self._clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        own = None if multiprocess_dir else self.registry
        if multiprocess_dir:
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        self.attempts = Counter(
            "cstar_delivery_attempts",
            "Delivery attempts recorded, by what they meant for their delivery.",
            ["outcome"],
            registry=own,
        )
        self.attempt_duration = Histogram(
            "cstar_delivery_attempt_duration_seconds",
            "Time from sending an attempt to its answer or error.",
            buckets=ATTEMPT_BUCKETS,
            registry=own,
        )
        self.cycle_duration = Histogram(
            "cstar_dispatcher_cycle_duration_seconds",
            "The dispatcher's cycle: recording attempts and claiming deliveries.",
            buckets=CYCLE_BUCKETS,
            registry=own,
        )
        self.published = Counter(
            "cstar_published_events", "Events accepted for delivery.", registry=own
        )
        self.request_duration = Histogram(
            "cstar_http_request_duration_seconds",
            "HTTP requests to the API and the dashboard, by route template.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=own,
        )
        self._outcomes = {status: self.attempts.labels(name) for status, name in _OUTCOME.items()}
        self._requests: dict[tuple[str, str, int], Histogram] = {}
        self._database: DatabaseGauges | None = None

    # -- counting ------------------------------------------------------------------------------
    def record_attempts(self, outcomes: Sequence[AttemptOutcome]) -> None:
        for outcome in outcomes:
            self._outcomes[outcome.status].inc()
            self.attempt_duration.observe(outcome.attempt.duration_ms / 1000)

    def record_publishes(self, count: int) -> None:
        if count:
            self.published.inc(count)

    def record_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        child = self._requests.get(key)
        if child is None:
            shown = method if method in _METHODS else "OTHER"
            child = self._requests[key] = self.request_duration.labels(route, shown, str(status))
        child.observe(seconds)

    # -- exposing ------------------------------------------------------------------------------
    def watch_database(self, read: Callable[[datetime], Awaitable[QueueSnapshot]]) -> None:
        """Add the gauges read from the database (once, by the process that exposes them)."""
        if self._database is None:
            self._database = DatabaseGauges(read, self._clock)
            self.registry.register(self._database)

    async def render(self) -> bytes:
        """The text exposition format, with a database snapshot at most ``SNAPSHOT_TTL`` old."""
        if self._database is not None:
            await self._database.refresh()
        return generate_latest(self.registry)


class DatabaseGauges(Collector):
    def __init__(self, read: Callable[[datetime], Awaitable[QueueSnapshot]], clock: Clock) -> None:
        self._read = read
        self._clock = clock
        self._snapshot: QueueSnapshot | None = None
        self._taken_at = 0.0
        self._taken_when: datetime | None = None
        self._refreshing: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        if self._snapshot is not None and time.monotonic() - self._taken_at < SNAPSHOT_TTL:
            return
        if self._refreshing is None:
            self._refreshing = asyncio.create_task(self._take())
        refreshing = self._refreshing
        try:
            await asyncio.shield(refreshing)
        finally:
            if refreshing.done():
                self._refreshing = None

    async def _take(self) -> None:
        now = self._clock()
        self._snapshot = await self._read(now)
        self._taken_at = time.monotonic()
        self._taken_when = now

    def collect(self) -> Iterable[Metric]:
        snapshot, now = self._snapshot, self._taken_when
        if snapshot is None or now is None:
            return
        yield _gauge(
            "cstar_pending_deliveries",
            "Deliveries waiting for an attempt, due now or later (all processes).",
            snapshot.pending,
        )
        yield _gauge(
            "cstar_oldest_pending_delivery_age_seconds",
            "Age of the oldest pending delivery, since it was queued (0: none pending).",
            _age(now, snapshot.oldest_pending_created_at),
        )
        yield _gauge(
            "cstar_delivery_lag_seconds",
            "How long the most overdue pending delivery has been due (0: none overdue).",
            _age(now, snapshot.oldest_due_at),
        )
        endpoints = GaugeMetricFamily(
            "cstar_endpoints", "Webhook endpoints by state (all teams).", labels=["state"]
        )
        endpoints.add_metric(["failing"], snapshot.endpoints_failing)
        endpoints.add_metric(["disabled"], snapshot.endpoints_disabled)
        yield endpoints


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age(now: datetime, since: datetime | None) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, when this process is in it."""
    return os.environ.get(MULTIPROC_ENV) or None
