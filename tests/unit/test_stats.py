"""Unit tests for ``cstar.server.domain.stats``: hourly rows, buckets, percentiles, merging."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cstar.server.domain.stats import (
    ABOVE_LAST_BOUND,
    LATENCY_BOUNDS_MS,
    LATENCY_BUCKETS,
    HourlyStats,
    by_webhook,
    empty,
    fill_hours,
    hour_of,
    in_periods,
    latency_bucket,
    merge,
)

H = datetime(2026, 11, 30, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def hist(buckets: dict[int, int]) -> tuple[int, ...]:
    return tuple(buckets.get(i, 0) for i in range(LATENCY_BUCKETS))


def row(hour: datetime = H, s: int = 0, r: int = 0, f: int = 0, webhook: str = "w") -> HourlyStats:
    """A row whose attempts all fall in the first latency bucket."""
    return HourlyStats(webhook, hour, s, r, f, hist({0: s + r + f}))


@pytest.mark.parametrize(
    ("duration", "bucket"),
    [
        (0, 0),
        (10, 0),
        (11, 1),
        (25, 1),
        (26, 2),
        (100, 3),
        (101, 4),
        (9_999, 9),
        (10_000, 9),
        (10_001, 10),
        (10**9, 10),
    ],
)
def test_a_duration_falls_in_the_first_bucket_whose_bound_it_does_not_exceed(
    duration: int, bucket: int
) -> None:
    assert latency_bucket(duration) == bucket


def test_there_is_one_bucket_per_bound_and_one_above() -> None:
    assert LATENCY_BOUNDS_MS == (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
    assert LATENCY_BUCKETS == 11


def test_hour_of_truncates_to_the_utc_hour() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 30, 11, 59, 59, 999_999, tzinfo=paris)
    assert hour_of(moment) == H
    assert hour_of(moment).tzinfo is UTC
    assert hour_of(H) == H
    with pytest.raises(ValueError, match="naive"):
        hour_of(datetime(2026, 11, 30, 10))


@pytest.mark.parametrize(
    ("hour", "latency", "message"),
    [
        (H, (0,) * 10, "11 counts"),
        (H + timedelta(minutes=1), (0,) * 11, "on the hour"),
        (H.astimezone(timezone(timedelta(hours=2))), (0,) * 11, "UTC"),
        (H, (-1,) + (0,) * 10, "negative"),
    ],
)
def test_a_row_must_be_well_formed(hour: datetime, latency: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HourlyStats("w", hour, 0, 0, 0, latency)


def test_attempts_and_success_rate() -> None:
    assert row(s=6, r=1, f=1).attempts == 8
    assert row(s=6, r=1, f=1).success_rate == 0.75
    assert row().attempts == 0
    assert row().success_rate is None


def test_a_percentile_is_the_bound_of_the_bucket_that_holds_it() -> None:
    stats = HourlyStats("w", H, 100, 0, 0, hist({0: 50, 3: 45, 10: 5}))
    assert stats.latency_percentile(1) == 10
    assert stats.latency_percentile(50) == 10
    assert stats.latency_percentile(51) == 100
    # Exactly the 95th of 100: 0.95 * 100 in floating point would round up to the 96th.
    assert stats.latency_percentile(95) == 100
    assert stats.latency_percentile(96) == ABOVE_LAST_BOUND
    assert math.isinf(stats.latency_percentile(100) or 0)
    assert HourlyStats("w", H, 1, 0, 0, hist({7: 1})).latency_percentile(50) == 2500
    assert row().latency_percentile(50) is None
    for bad in (0, 101, -5):
        with pytest.raises(ValueError, match=r"1\.\.100"):
            stats.latency_percentile(bad)


def test_merge_sums_counts_and_histograms() -> None:
    merged = merge(
        [
            HourlyStats("w", H, 1, 2, 3, hist({0: 6})),
            HourlyStats("w", H + HOUR, 4, 0, 1, hist({0: 1, 10: 4})),
        ],
        webhook_id="w",
        hour=H,
    )
    assert merged == HourlyStats("w", H, 5, 2, 4, hist({0: 7, 10: 4}))
    assert merge([], webhook_id="w", hour=H + timedelta(minutes=5)) == empty("w", H)


def test_fill_hours_gives_every_hour_of_the_range_with_zeros_where_missing() -> None:
    rows = [
        row(H - HOUR, s=9),  # before the range
        row(H + HOUR, s=2),
        row(H + HOUR, s=7, webhook="other"),  # another webhook
        row(H + 3 * HOUR, f=1),
        row(H + 4 * HOUR, s=9),  # after the range
    ]
    filled = fill_hours(rows, webhook_id="w", start=H + timedelta(minutes=30), hours=4)
    assert filled == [
        empty("w", H),
        row(H + HOUR, s=2),
        empty("w", H + 2 * HOUR),
        row(H + 3 * HOUR, f=1),
    ]
    assert fill_hours(rows, webhook_id="w", start=H, hours=0) == []
    with pytest.raises(ValueError, match="negative"):
        fill_hours(rows, webhook_id="w", start=H, hours=-1)


def test_in_periods_merges_consecutive_hours_into_days() -> None:
    week = fill_hours(
        [row(H + i * HOUR, s=1, f=i % 2) for i in range(168)],
        webhook_id="w",
        start=H,
        hours=168,
    )
    days = in_periods(week, hours=24)
    assert [d.hour for d in days] == [H + timedelta(days=n) for n in range(7)]
    assert {(d.succeeded, d.failed, d.latency[0]) for d in days} == {(24, 12, 36)}
    partial = in_periods(week[:30], hours=24)
    assert [(d.hour, d.succeeded) for d in partial] == [(H, 24), (H + 24 * HOUR, 6)]
    with pytest.raises(ValueError, match="at least one hour"):
        in_periods(week, hours=0)


def test_by_webhook_groups_rows_in_their_order() -> None:
    a1, b1, a2 = row(webhook="a"), row(webhook="b"), row(H + HOUR, webhook="a")
    assert by_webhook([a1, b1, a2]) == {"a": [a1, a2], "b": [b1]}
