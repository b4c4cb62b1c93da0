"""The shared rate limit counts (``store/rate_limits.py``) on both databases."""

from __future__ import annotations

import asyncio

from cstar.server.bootstrap import Container
from cstar.server.store.rate_limits import SqlRateLimitLedger


async def test_concurrent_takes_each_see_their_own_count(container: Container) -> None:
    ledger = SqlRateLimitLedger(container.database, "contract")

    counts = await asyncio.gather(*(ledger.take(600, "k", 3) for _ in range(20)))

    # Every add is atomic: the counts after are 3, 6, ..., 60 in some order, none repeated.
    assert sorted(counts) == list(range(3, 61, 3))


async def test_counts_are_per_limiter_window_and_key(container: Container) -> None:
    a = SqlRateLimitLedger(container.database, "a")
    b = SqlRateLimitLedger(container.database, "b")

    assert await a.take(600, "k", 1) == 1
    assert await a.take(600, "k", 1) == 2
    assert await a.take(660, "k", 1) == 1
    assert await a.take(600, "other", 5) == 5
    assert await b.take(600, "k", 1) == 1


async def test_forget_before_deletes_one_limiters_older_windows(container: Container) -> None:
    a = SqlRateLimitLedger(container.database, "a")
    b = SqlRateLimitLedger(container.database, "b")
    for start in (0, 60, 120):
        await a.take(start, "k", 1)
        await b.take(start, "k", 1)

    assert await a.forget_before(120) == 2

    assert await a.take(120, "k", 1) == 2
    assert await a.take(0, "k", 1) == 1  # gone, so counted afresh
    assert await b.take(0, "k", 1) == 2  # b's rows untouched
