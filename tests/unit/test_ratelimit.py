"""Unit tests for the fixed-window rate limiter in ``cstar.server.api.ratelimit``, on a real
SQLite ledger (the sharing across processes is in ``tests/contract/test_rate_limit_ledger.py``
and ``tests/e2e/test_replicas.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cstar.server.api import ratelimit
from cstar.server.api.ratelimit import Decision, SharedWindowLimiter
from cstar.server.config import RateLimit
from cstar.server.store import migrate
from cstar.server.store.database import SqliteDatabase
from cstar.server.store.rate_limits import SqlRateLimitLedger

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


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(str(tmp_path / "limits.db"))
    await migrate.upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def ledger(database: SqliteDatabase) -> SqlRateLimitLedger:
    return SqlRateLimitLedger(database, "test")


def limiter(
    clock: ManualClock, ledger: SqlRateLimitLedger, limit: int = 5, window: int = 60
) -> SharedWindowLimiter:
    return SharedWindowLimiter(RateLimit(limit, window), clock, ledger)


# ---------------------------------------------------------------------------------------------
# counting
# ---------------------------------------------------------------------------------------------


async def test_first_hit_is_allowed(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    decision = await limiter(clock, ledger).hit("k")

    assert decision == Decision(
        allowed=True, limit=5, remaining=4, reset_at=START_TS + 60, retry_after=0
    )


async def test_counts_down_to_the_limit_then_denies(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    lim = limiter(clock, ledger, limit=3)

    decisions = [await lim.hit("k") for _ in range(5)]

    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    assert all(d.reset_at == START_TS + 60 for d in decisions)
    assert [d.retry_after for d in decisions[:3]] == [0, 0, 0]


async def test_remaining_never_negative(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    lim = limiter(clock, ledger, limit=2)

    decisions = [await lim.hit("k") for _ in range(50)]

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
async def test_retry_after_is_the_ceiling_of_the_seconds_left(
    clock: ManualClock, ledger: SqlRateLimitLedger, offset: float, expected: int
) -> None:
    lim = limiter(clock, ledger, limit=1)
    clock.advance(offset)
    assert (await lim.hit("k")).allowed

    denied = await lim.hit("k")

    assert denied.allowed is False
    assert denied.retry_after == expected
    assert denied.retry_after >= 1
    assert denied.reset_at == START_TS + 60


async def test_window_is_aligned_to_multiples_of_its_length(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    clock.advance(45)
    lim = limiter(clock, ledger, limit=1, window=60)

    first = await lim.hit("k")
    denied = await lim.hit("k")

    assert first.reset_at == START_TS + 60
    assert denied.retry_after == 15


async def test_hour_window(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    clock.advance(1800.25)
    lim = limiter(clock, ledger, limit=1, window=3600)
    await lim.hit("k")

    denied = await lim.hit("k")

    assert denied.reset_at == START_TS + 3600
    assert denied.retry_after == 1800


async def test_new_window_resets_the_count(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    lim = limiter(clock, ledger, limit=2)
    await lim.hit("k")
    await lim.hit("k")
    assert (await lim.hit("k")).allowed is False

    clock.advance(60)
    fresh = await lim.hit("k")

    assert fresh == Decision(
        allowed=True, limit=2, remaining=1, reset_at=START_TS + 120, retry_after=0
    )


async def test_last_instant_of_window_still_counts_against_it(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    lim = limiter(clock, ledger, limit=1)
    await lim.hit("k")

    clock.advance(59.999999)
    assert (await lim.hit("k")).allowed is False

    clock.advance(0.000001)
    assert (await lim.hit("k")).allowed is True


async def test_skipping_several_windows_resets_too(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    lim = limiter(clock, ledger, limit=1)
    await lim.hit("k")

    clock.advance(60 * 10 + 5)
    decision = await lim.hit("k")

    assert decision.allowed is True
    assert decision.reset_at == START_TS + 60 * 11


async def test_keys_are_independent(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    lim = limiter(clock, ledger, limit=2)
    await lim.hit("a")
    await lim.hit("a")

    assert (await lim.hit("a")).allowed is False
    b = await lim.hit("b")
    assert b.allowed is True
    assert b.remaining == 1
    assert (await lim.hit("b")).allowed is True
    assert (await lim.hit("b")).allowed is False
    assert (await lim.hit("c")).remaining == 1


# ---------------------------------------------------------------------------------------------
# blocked_for
# ---------------------------------------------------------------------------------------------


async def test_blocked_for_unknown_key_is_zero(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    assert limiter(clock, ledger).blocked_for("nobody") == 0


async def test_blocked_for_below_the_limit_is_zero(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    lim = limiter(clock, ledger, limit=3)
    await lim.hit("k")
    await lim.hit("k")

    assert lim.blocked_for("k") == 0


async def test_blocked_for_once_the_window_is_used_up(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    lim = limiter(clock, ledger, limit=3)
    clock.advance(20.5)
    for _ in range(3):
        assert (await lim.hit("k")).allowed

    assert lim.blocked_for("k") == 40
    clock.advance(39.0)
    assert lim.blocked_for("k") == 1
    clock.advance(0.5)
    assert lim.blocked_for("k") == 0


async def test_blocked_for_does_not_count(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    lim = limiter(clock, ledger, limit=2)
    for _ in range(10):
        assert lim.blocked_for("k") == 0
    await lim.hit("k")
    for _ in range(10):
        assert lim.blocked_for("k") == 0

    last = await lim.hit("k")

    assert last.allowed is True
    assert last.remaining == 0


async def test_blocked_for_ends_with_the_window(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    lim = limiter(clock, ledger, limit=1)
    await lim.hit("k")
    assert lim.blocked_for("k") == 60

    clock.advance(60)

    assert lim.blocked_for("k") == 0
    assert (await lim.hit("k")).allowed is True


async def test_blocked_for_is_per_key(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    lim = limiter(clock, ledger, limit=1)
    await lim.hit("a")

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


async def test_headers_from_the_limiter(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    lim = limiter(clock, ledger, limit=1)
    allowed = await lim.hit("k")
    clock.advance(30.5)
    denied = await lim.hit("k")

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
# one count for every process, taken in leases
# ---------------------------------------------------------------------------------------------


async def count_rows(database: SqliteDatabase) -> list[tuple[object, ...]]:
    import sqlalchemy as sa

    from cstar.server.store.schema import rate_limit_windows

    statement = sa.select(
        rate_limit_windows.c.limiter,
        rate_limit_windows.c.window_start,
        rate_limit_windows.c.key,
        rate_limit_windows.c.used,
    ).order_by(rate_limit_windows.c.window_start)
    return await database.read(lambda conn: [tuple(r) for r in conn.execute(statement)])


async def test_replicas_share_one_count(clock: ManualClock, ledger: SqlRateLimitLedger) -> None:
    replicas = [limiter(clock, ledger, limit=10) for _ in range(3)]

    allowed = 0
    for i in range(30):
        allowed += (await replicas[i % 3].hit("k")).allowed

    assert allowed == 10
    clock.advance(60)
    assert (await replicas[1].hit("k")).allowed


async def test_leases_hold_a_hundredth_of_the_limit(
    clock: ManualClock, ledger: SqlRateLimitLedger, database: SqliteDatabase
) -> None:
    lim = limiter(clock, ledger, limit=1000)
    assert lim.lease_size == 10

    for _ in range(25):
        assert (await lim.hit("k")).allowed

    # 25 requests took three leases of 10: three writes, not 25.
    assert (await count_rows(database)) == [("test", START_TS, "k", 30)]
    assert (await lim.hit("k")).remaining == 1000 - 26


async def test_units_leased_elsewhere_are_not_granted_twice(
    clock: ManualClock, ledger: SqlRateLimitLedger
) -> None:
    greedy = SharedWindowLimiter(RateLimit(10, 60), clock, ledger, lease_size=8)
    other = SharedWindowLimiter(RateLimit(10, 60), clock, ledger, lease_size=8)

    assert (await greedy.hit("k")).allowed  # holds 8 units, 7 left
    decisions = [await other.hit("k") for _ in range(4)]

    # Only 2 of the limit were left for the other replica.
    assert [d.allowed for d in decisions] == [True, True, False, False]
    assert other.blocked_for("k") > 0
    assert greedy.blocked_for("k") == 0
    assert sum([(await greedy.hit("k")).allowed for _ in range(10)]) == 7


async def test_a_refused_key_costs_no_more_writes(
    clock: ManualClock, ledger: SqlRateLimitLedger, database: SqliteDatabase
) -> None:
    lim = limiter(clock, ledger, limit=2)
    for _ in range(2):
        await lim.hit("k")
    assert not (await lim.hit("k")).allowed
    before = await count_rows(database)

    for _ in range(100):
        assert not (await lim.hit("k")).allowed

    assert (await count_rows(database)) == before


async def test_concurrent_requests_share_one_lease(
    clock: ManualClock, ledger: SqlRateLimitLedger, database: SqliteDatabase
) -> None:
    lim = SharedWindowLimiter(RateLimit(100, 60), clock, ledger, lease_size=50)

    decisions = await asyncio.gather(*(lim.hit("k") for _ in range(40)))

    assert all(d.allowed for d in decisions)
    assert (await count_rows(database)) == [("test", START_TS, "k", 50)]


async def test_counts_of_old_windows_are_deleted(
    clock: ManualClock, ledger: SqlRateLimitLedger, database: SqliteDatabase
) -> None:
    lim = limiter(clock, ledger, limit=5)
    other_limiter = SqlRateLimitLedger(database, "other")
    await other_limiter.take(START_TS - 3600, "x", 1)
    await lim.hit("k")
    clock.advance(60)
    await lim.hit("k")
    assert [r[1] for r in (await count_rows(database)) if r[0] == "test"] == [
        START_TS,
        START_TS + 60,
    ]

    clock.advance(60)
    await lim.hit("k")

    # The window before the last is gone; another limiter's rows are its own business.
    assert [r[1] for r in (await count_rows(database)) if r[0] == "test"] == [
        START_TS + 60,
        START_TS + 120,
    ]
    assert ("other", START_TS - 3600, "x", 1) in (await count_rows(database))


async def test_long_keys_are_counted_by_their_hash(
    clock: ManualClock, ledger: SqlRateLimitLedger, database: SqliteDatabase
) -> None:
    lim = limiter(clock, ledger, limit=1)
    long_key = "x" * 5000

    assert (await lim.hit(long_key)).allowed
    assert not (await lim.hit(long_key)).allowed
    assert lim.blocked_for(long_key) > 0

    (row,) = await count_rows(database)
    assert str(row[2]).startswith("sha256:")
    assert len(str(row[2])) < 128


# ---------------------------------------------------------------------------------------------
# memory bound
# ---------------------------------------------------------------------------------------------


async def test_tracked_keys_are_bounded_and_the_rest_counted_in_the_database(
    clock: ManualClock, ledger: SqlRateLimitLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_TRACKED", 4)
    lim = limiter(clock, ledger, limit=2)
    for i in range(4):
        await lim.hit(f"key-{i}")

    decisions = [await lim.hit("newcomer") for _ in range(3)]

    assert len(lim._leases) == 4
    assert "newcomer" not in lim._leases
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [d.remaining for d in decisions] == [1, 0, 0]


async def test_tracked_keys_of_past_windows_are_forgotten(
    clock: ManualClock, ledger: SqlRateLimitLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_TRACKED", 4)
    lim = limiter(clock, ledger, limit=5)
    for i in range(4):
        await lim.hit(f"old-{i}")

    clock.advance(60)
    await lim.hit("new")

    assert set(lim._leases) == {"new"}
    largest = 0
    for i in range(20):
        await lim.hit(f"more-{i}")
        largest = max(largest, len(lim._leases))
    assert largest == 4


async def test_a_database_failure_is_raised_and_the_next_request_asks_again(
    clock: ManualClock, tmp_path: Path
) -> None:
    from cstar.server.store.contract import StoreError

    database = SqliteDatabase(str(tmp_path / "gone.db"))
    await migrate.upgrade(database)
    lim = limiter(clock, SqlRateLimitLedger(database, "test"), limit=1000)  # leases of 10
    assert (await lim.hit("k")).allowed
    await database.dispose()  # the database goes away

    for _ in range(3):
        with pytest.raises(StoreError):
            await lim.hit("other")  # no lease in hand: each request asks, and fails

    # A request holding units from an earlier lease is still decided in memory.
    assert (await lim.hit("k")).allowed
