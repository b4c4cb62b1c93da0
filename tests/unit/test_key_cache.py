"""The key cache: one read per key per TTL, shared by concurrent lookups, dropped on revocation."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cstar.server.domain.models import ApiKey, KeyKind, KeyMode
from cstar.server.services.key_cache import KeyCache
from cstar.server.store.contract import StoreError

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def key(n: int = 1, *, revoked: bool = False) -> ApiKey:
    return ApiKey(
        id=f"key_{n}",
        team_id="team",
        name="k",
        kind=KeyKind.SECRET,
        mode=KeyMode.TEST,
        prefix="sk_test_abcd",
        last4="wxyz",
        key_hash=f"hash{n}",
        created_at=NOW,
        revoked_at=NOW if revoked else None,
    )


class Table:
    """The stored keys by hash, counting reads; ``gate`` holds reads until set."""

    def __init__(self, *keys: ApiKey) -> None:
        self.keys = {k.key_hash: k for k in keys}
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def lookup(self, digest: str) -> ApiKey | None:
        self.reads += 1
        found = self.keys.get(digest)  # as of when the read began
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return found


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_found_key_is_read_once_per_ttl() -> None:
    table, clock = Table(key()), Clock()
    cache = KeyCache(table.lookup, ttl=2.0, monotonic=clock)
    for _ in range(5):
        assert await cache.find("hash1") == key()
    assert table.reads == 1
    clock.now += 2.01
    assert await cache.find("hash1") == key()
    assert table.reads == 2


async def test_wrong_and_revoked_keys_are_never_kept() -> None:
    table = Table(key(2, revoked=True))
    cache = KeyCache(table.lookup, ttl=60.0)
    for _ in range(3):
        assert await cache.find("nope") is None
        found = await cache.find("hash2")
        assert found is not None
        assert not found.is_active
    assert table.reads == 6
    assert len(cache) == 0


async def test_concurrent_lookups_of_one_key_share_one_read() -> None:
    table = Table(key())
    table.gate.clear()
    cache = KeyCache(table.lookup, ttl=2.0)
    finds = [asyncio.create_task(cache.find("hash1")) for _ in range(20)]
    await asyncio.sleep(0.01)
    table.gate.set()
    assert await asyncio.gather(*finds) == [key()] * 20
    assert table.reads == 1


async def test_a_failed_shared_read_fails_its_reader_and_the_waiters_read_again() -> None:
    table = Table(key())
    table.gate.clear()
    table.fail = StoreError("database unavailable")
    cache = KeyCache(table.lookup, ttl=2.0)
    first = asyncio.create_task(cache.find("hash1"))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(cache.find("hash1"))
    await asyncio.sleep(0.01)
    table.gate.set()
    with pytest.raises(StoreError):
        await first
    with pytest.raises(StoreError):  # its own read failed too: the database is still away
        await waiter
    assert table.reads == 2
    table.fail = None
    assert await cache.find("hash1") == key()


async def test_a_cancelled_reader_does_not_cancel_the_others() -> None:
    table = Table(key())
    table.gate.clear()
    cache = KeyCache(table.lookup, ttl=2.0)
    first = asyncio.create_task(cache.find("hash1"))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(cache.find("hash1"))
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    table.gate.set()
    assert await waiter == key()


async def test_forget_drops_the_key_at_once() -> None:
    table = Table(key(1), key(2))
    cache = KeyCache(table.lookup, ttl=60.0)
    await cache.find("hash1")
    await cache.find("hash2")
    table.keys["hash1"] = replace(key(1), revoked_at=NOW)
    cache.forget("key_1")
    found = await cache.find("hash1")
    assert found is not None
    assert not found.is_active
    assert await cache.find("hash2") == key(2)
    assert table.reads == 3


async def test_a_read_that_began_before_a_revocation_is_not_kept() -> None:
    table = Table(key())
    table.gate.clear()
    cache = KeyCache(table.lookup, ttl=60.0)
    reading = asyncio.create_task(cache.find("hash1"))
    await asyncio.sleep(0.01)
    table.keys["hash1"] = replace(key(), revoked_at=NOW)  # revoked while the read was out
    cache.forget("key_1")
    table.gate.set()
    assert await reading == key()  # what the database said when asked
    assert len(cache) == 0
    found = await cache.find("hash1")
    assert found is not None
    assert not found.is_active


async def test_the_cache_holds_at_most_max_entries() -> None:
    table = Table(*(key(n) for n in range(10)))
    cache = KeyCache(table.lookup, ttl=60.0, max_entries=4)
    for n in range(10):
        await cache.find(f"hash{n}")
    assert len(cache) == 4
    await cache.find("hash9")
    assert table.reads == 10
    await cache.find("hash0")
    assert table.reads == 11


async def test_a_ttl_of_zero_reads_every_time() -> None:
    table = Table(key())
    cache = KeyCache(table.lookup, ttl=0.0)
    for _ in range(3):
        await cache.find("hash1")
    assert table.reads == 3
    assert len(cache) == 0
