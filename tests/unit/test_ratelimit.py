"""Unit tests for the fixed-window rate limiter in ``cstar.server.api.ratelimit``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cstar.server.api import ratelimit
from cstar.server.api.ratelimit import Decision, FixedWindowLimiter
from cstar.server.config import RateLimit

#: 2025-01-01T00:00:00Z, a multiple of 60 and of 3600 seconds since the epoch.
START = datetime(2025, 1, 1, tzinfo=UTC)
START_TS = int(START.timestamp())


class ManualClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def limiter(clock: ManualClock, limit: int = 5, window: int = 60) -> FixedWindowLimiter:
    return FixedWindowLimiter(RateLimit(limit, window), clock)


# ---------------------------------------------------------------------------------------------
# counting
# ---------------------------------------------------------------------------------------------


def test_first_hit_is_allowed(clock: ManualClock) -> None:
    decision = limiter(clock).hit("k")

    assert decision == Decision(
        allowed=True, limit=5, remaining=4, reset_at=START_TS + 60, retry_after=0
    )


def test_counts_down_to_the_limit_then_denies(clock: ManualClock) -> None:
    lim = limiter(clock, limit=3)

    decisions = [lim.hit("k") for _ in range(5)]

    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    assert all(d.reset_at == START_TS + 60 for d in decisions)
    assert [d.retry_after for d in decisions[:3]] == [0, 0, 0]


def test_remaining_never_negative(clock: ManualClock) -> None:
    lim = limiter(clock, limit=2)

    decisions = [lim.hit("k") for _ in range(50)]

    assert min(d.remaining for d in decisions) == 0
    assert all(not d.allowed for d in decisions[2:])


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0.0, 60),
        (0.5, 60),
        (1.0, 59),
        (10.2, 50),
        (30.0, 30),
        (58.999, 2),
        (59.0, 1),
        (59.5, 1),
        (59.999, 1),
    ],
)
def test_retry_after_is_the_ceiling_of_the_seconds_left(
    clock: ManualClock, offset: float, expected: int
) -> None:
    lim = limiter(clock, limit=1)
    clock.advance(offset)
    assert lim.hit("k").allowed

    denied = lim.hit("k")

    assert denied.allowed is False
    assert denied.retry_after == expected
    assert denied.retry_after >= 1
    assert denied.reset_at == START_TS + 60


def test_window_is_aligned_to_multiples_of_its_length(clock: ManualClock) -> None:
    clock.advance(45)
    lim = limiter(clock, limit=1, window=60)

    first = lim.hit("k")
    denied = lim.hit("k")

    assert first.reset_at == START_TS + 60
    assert denied.retry_after == 15


def test_hour_window(clock: ManualClock) -> None:
    clock.advance(1800.25)
    lim = limiter(clock, limit=1, window=3600)
    lim.hit("k")

    denied = lim.hit("k")

    assert denied.reset_at == START_TS + 3600
    assert denied.retry_after == 1800


def test_new_window_resets_the_count(clock: ManualClock) -> None:
    lim = limiter(clock, limit=2)
    lim.hit("k")
    lim.hit("k")
    assert lim.hit("k").allowed is False

    clock.advance(60)
    fresh = lim.hit("k")

    assert fresh == Decision(
        allowed=True, limit=2, remaining=1, reset_at=START_TS + 120, retry_after=0
    )


def test_last_instant_of_window_still_counts_against_it(clock: ManualClock) -> None:
    lim = limiter(clock, limit=1)
    lim.hit("k")

    clock.advance(59.999999)
    assert lim.hit("k").allowed is False

    clock.advance(0.000001)
    assert lim.hit("k").allowed is True


def test_skipping_several_windows_resets_too(clock: ManualClock) -> None:
    lim = limiter(clock, limit=1)
    lim.hit("k")

    clock.advance(60 * 10 + 5)
    decision = lim.hit("k")

    assert decision.allowed is True
    assert decision.reset_at == START_TS + 60 * 11


def test_keys_are_independent(clock: ManualClock) -> None:
    lim = limiter(clock, limit=2)
    lim.hit("a")
    lim.hit("a")

    assert lim.hit("a").allowed is False
    b = lim.hit("b")
    assert b.allowed is True
    assert b.remaining == 1
    assert lim.hit("b").allowed is True
    assert lim.hit("b").allowed is False
    assert lim.hit("c").remaining == 1


# ---------------------------------------------------------------------------------------------
# blocked_for
# ---------------------------------------------------------------------------------------------


def test_blocked_for_unknown_key_is_zero(clock: ManualClock) -> None:
    assert limiter(clock).blocked_for("nobody") == 0


def test_blocked_for_below_the_limit_is_zero(clock: ManualClock) -> None:
    lim = limiter(clock, limit=3)
    lim.hit("k")
    lim.hit("k")

    assert lim.blocked_for("k") == 0


def test_blocked_for_once_the_window_is_used_up(clock: ManualClock) -> None:
    lim = limiter(clock, limit=3)
    clock.advance(20.5)
    for _ in range(3):
        assert lim.hit("k").allowed

    assert lim.blocked_for("k") == 40
    clock.advance(39.0)
    assert lim.blocked_for("k") == 1
    clock.advance(0.5)
    assert lim.blocked_for("k") == 0


def test_blocked_for_does_not_count(clock: ManualClock) -> None:
    lim = limiter(clock, limit=2)
    for _ in range(10):
        assert lim.blocked_for("k") == 0
    lim.hit("k")
    for _ in range(10):
        assert lim.blocked_for("k") == 0

    last = lim.hit("k")

    assert last.allowed is True
    assert last.remaining == 0


def test_blocked_for_ends_with_the_window(clock: ManualClock) -> None:
    lim = limiter(clock, limit=1)
    lim.hit("k")
    assert lim.blocked_for("k") == 60

    clock.advance(60)

    assert lim.blocked_for("k") == 0
    assert lim.hit("k").allowed is True


def test_blocked_for_is_per_key(clock: ManualClock) -> None:
    lim = limiter(clock, limit=1)
    lim.hit("a")

    assert lim.blocked_for("a") == 60
    assert lim.blocked_for("b") == 0


# ---------------------------------------------------------------------------------------------
# Decision.headers
# ---------------------------------------------------------------------------------------------


def test_headers_when_allowed() -> None:
    decision = Decision(allowed=True, limit=1000, remaining=999, reset_at=1735689660, retry_after=0)

    assert decision.headers() == [
        (b"x-ratelimit-limit", b"1000"),
        (b"x-ratelimit-remaining", b"999"),
        (b"x-ratelimit-reset", b"1735689660"),
    ]


def test_headers_when_denied_include_retry_after() -> None:
    decision = Decision(allowed=False, limit=10, remaining=0, reset_at=1735689660, retry_after=42)

    assert decision.headers() == [
        (b"x-ratelimit-limit", b"10"),
        (b"x-ratelimit-remaining", b"0"),
        (b"x-ratelimit-reset", b"1735689660"),
        (b"retry-after", b"42"),
    ]


def test_headers_from_the_limiter(clock: ManualClock) -> None:
    lim = limiter(clock, limit=1)
    allowed = lim.hit("k")
    clock.advance(30.5)
    denied = lim.hit("k")

    allowed_headers = dict(allowed.headers())
    denied_headers = dict(denied.headers())

    assert b"retry-after" not in allowed_headers
    assert allowed_headers[b"x-ratelimit-remaining"] == b"0"
    assert denied_headers[b"retry-after"] == b"30"
    assert denied_headers[b"x-ratelimit-reset"] == str(START_TS + 60).encode()
    for name, value in allowed.headers() + denied.headers():
        assert isinstance(name, bytes)
        assert isinstance(value, bytes)
        assert name == name.lower()


# ---------------------------------------------------------------------------------------------
# memory bound
# ---------------------------------------------------------------------------------------------


def test_tracked_keys_are_bounded_across_windows(clock: ManualClock) -> None:
    cap = ratelimit._MAX_TRACKED
    lim = limiter(clock, limit=5)
    for i in range(cap):
        lim.hit(f"old-{i}")
    assert len(lim._windows) == cap

    clock.advance(60)
    lim.hit("new")

    # Every key of the finished window is forgotten; only the current window remains.
    assert len(lim._windows) == 1
    assert lim.hit("new").remaining == 3


def test_tracked_keys_keep_current_window_entries_when_forgetting(clock: ManualClock) -> None:
    cap = ratelimit._MAX_TRACKED
    lim = limiter(clock, limit=5)
    for i in range(cap - 1):
        lim.hit(f"old-{i}")

    clock.advance(60)
    lim.hit("current")
    lim.hit("current")
    assert len(lim._windows) == cap

    lim.hit("newcomer")

    assert set(lim._windows) == {"current", "newcomer"}
    assert lim.hit("current").remaining == 2


def test_tracked_keys_are_bounded_within_one_window(clock: ManualClock) -> None:
    cap = ratelimit._MAX_TRACKED
    lim = limiter(clock, limit=5)
    for i in range(cap):
        lim.hit(f"key-{i}")

    decision = lim.hit("one-too-many")

    # The table stays at its cap and nobody's count is reset: the newcomer shares the overflow
    # counter instead.
    assert len(lim._windows) == cap
    assert "one-too-many" not in lim._windows
    assert decision.remaining == 4
    assert lim.hit("key-0").remaining == 3


def test_new_keys_share_one_counter_while_the_table_is_full(clock: ManualClock) -> None:
    cap = ratelimit._MAX_TRACKED
    lim = limiter(clock, limit=3)
    for i in range(cap):
        lim.hit(f"key-{i}")
    for i in range(3):
        assert lim.hit(f"newcomer-{i}").allowed
    assert not lim.hit("newcomer-3").allowed
    assert lim.blocked_for("yet-another") > 0
    clock.advance(60)  # a new window: old entries are dropped, newcomers get their own slot
    assert lim.hit("newcomer-4").remaining == 2
    assert "newcomer-4" in lim._windows


def test_hitting_a_known_key_at_capacity_forgets_nothing(clock: ManualClock) -> None:
    cap = ratelimit._MAX_TRACKED
    lim = limiter(clock, limit=5)
    for i in range(cap):
        lim.hit(f"key-{i}")

    decision = lim.hit("key-0")

    assert len(lim._windows) == cap
    assert decision.remaining == 3


def test_tracked_keys_never_exceed_the_cap(clock: ManualClock) -> None:
    cap = ratelimit._MAX_TRACKED
    lim = limiter(clock, limit=5)
    largest = 0
    for i in range(cap + cap // 2):
        if i % 10_000 == 0:
            clock.advance(7)
        lim.hit(f"key-{i}")
        largest = max(largest, len(lim._windows))

    assert largest <= cap
