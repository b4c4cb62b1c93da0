"""Delivery statistics per webhook and UTC hour: attempts by outcome and a latency histogram.

The dispatcher adds every attempt it records to its webhook's row for the hour the attempt
started in; charts read these rows (at most one per hour) instead of the attempts themselves.
Latency is kept as counts per bucket of ``duration_ms``, so percentiles are approximate: the
upper bound of the bucket that holds them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Upper bounds (inclusive, in milliseconds) of the latency buckets; one more bucket holds
#: everything above the last bound.
LATENCY_BOUNDS_MS: tuple[int, ...] = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
#: How many latency buckets a row has: one per bound, and "above the last bound".
LATENCY_BUCKETS = len(LATENCY_BOUNDS_MS) + 1
#: What :meth:`HourlyStats.latency_percentile` answers when the percentile lies above the last
#: bound (the request took longer than 10 s, or timed out).
ABOVE_LAST_BOUND = math.inf
HOUR = timedelta(hours=1)


def hour_of(moment: datetime) -> datetime:
    """The UTC hour ``moment`` falls in (aware UTC, on the hour)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given for a UTC hour")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def latency_bucket(duration_ms: int) -> int:
    """The index of the bucket a duration falls in: the first whose bound it does not exceed."""
    return bisect_left(LATENCY_BOUNDS_MS, duration_ms)


@dataclass(frozen=True, slots=True)
class HourlyStats:
    """One webhook's attempts that started in one UTC hour."""

    webhook_id: str
    #: The start of the hour: aware UTC, on the hour.
    hour: datetime
    succeeded: int
    #: Failed attempts after which the delivery was scheduled for a retry.
    retrying: int
    #: Failed attempts after which the delivery failed for good (410 Gone included).
    failed: int
    #: Attempts per latency bucket, in the order of ``LATENCY_BOUNDS_MS`` then "above".
    latency: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.latency) != LATENCY_BUCKETS:
            raise ValueError(f"latency needs {LATENCY_BUCKETS} counts, not {len(self.latency)}")
        if self.hour != hour_of(self.hour) or self.hour.utcoffset() != timedelta(0):
            raise ValueError("hour must be aware UTC, on the hour")
        if min(self.succeeded, self.retrying, self.failed, *self.latency) < 0:
            raise ValueError("counts cannot be negative")

    @property
    def attempts(self) -> int:
        return self.succeeded + self.retrying + self.failed

    @property
    def success_rate(self) -> float | None:
        """Succeeded attempts over all attempts; ``None`` without attempts."""
        attempts = self.attempts
        return self.succeeded / attempts if attempts else None

    def latency_percentile(self, percent: int) -> float | None:
        """An upper bound, in milliseconds, of the ``percent``-th percentile of latency: the
        bound of the bucket holding it, ``ABOVE_LAST_BOUND`` (infinity) when that is the last
        bucket, ``None`` without attempts."""
        if not 0 < percent <= 100:
            raise ValueError("percent must be in 1..100")
        total = sum(self.latency)
        if total == 0:
            return None
        rank = -(-percent * total // 100)  # ceil, in integers: the rank-th fastest attempt
        seen = 0
        for bound, count in zip((*LATENCY_BOUNDS_MS, math.inf), self.latency, strict=True):
            seen += count
            if seen >= rank:
                return float(bound)
        raise AssertionError("unreachable: the ranks end at the total")  # pragma: no cover


def empty(webhook_id: str, hour: datetime) -> HourlyStats:
    """An hour without attempts."""
    return HourlyStats(webhook_id, hour_of(hour), 0, 0, 0, (0,) * LATENCY_BUCKETS)


def merge(rows: Iterable[HourlyStats], *, webhook_id: str, hour: datetime) -> HourlyStats:
    """The sum of ``rows`` as one row for ``webhook_id`` stamped ``hour`` (several hours make
    one longer period: a day is 24 hours merged and stamped with the first)."""
    succeeded = retrying = failed = 0
    latency = [0] * LATENCY_BUCKETS
    for row in rows:
        succeeded += row.succeeded
        retrying += row.retrying
        failed += row.failed
        for index, count in enumerate(row.latency):
            latency[index] += count
    return HourlyStats(webhook_id, hour_of(hour), succeeded, retrying, failed, tuple(latency))


def fill_hours(
    stats: Iterable[HourlyStats], *, webhook_id: str, start: datetime, hours: int
) -> list[HourlyStats]:
    """One row per hour from the hour of ``start`` on, ``hours`` of them: ``webhook_id``'s
    row for that hour, or zeros where it had no attempts. Rows of other webhooks, and rows
    outside the range, are left out."""
    if hours < 0:
        raise ValueError("hours cannot be negative")
    first = hour_of(start)
    found = {row.hour: row for row in stats if row.webhook_id == webhook_id}
    slots = (first + i * HOUR for i in range(hours))
    return [found.get(hour) or empty(webhook_id, hour) for hour in slots]


def in_periods(hourly: Sequence[HourlyStats], *, hours: int) -> list[HourlyStats]:
    """Consecutive rows (as :func:`fill_hours` gives them) merged ``hours`` at a time, each
    stamped with its first hour: ``in_periods(week, hours=24)`` is seven days."""
    if hours < 1:
        raise ValueError("a period has at least one hour")
    periods = []
    for offset in range(0, len(hourly), hours):
        group = hourly[offset : offset + hours]
        periods.append(merge(group, webhook_id=group[0].webhook_id, hour=group[0].hour))
    return periods


def by_webhook(stats: Iterable[HourlyStats]) -> dict[str, list[HourlyStats]]:
    """Rows grouped per webhook, each group in the order given."""
    grouped: dict[str, list[HourlyStats]] = {}
    for row in stats:
        grouped.setdefault(row.webhook_id, []).append(row)
    return grouped
