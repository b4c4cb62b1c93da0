"""The group-commit batcher on its own: what queues while a batch is written goes in the next one,
a failed batch is retried item by item, and nobody waits forever."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cstar.server.store.batching import Batcher


class Recorder:
    """Stands in for a database: records each transaction it is asked for, and can be held."""

    def __init__(self) -> None:
        self.transactions: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def many(self, items: Sequence[int]) -> list[int]:
        await self.gate.wait()
        if any(i < 0 for i in items):
            raise ValueError("a negative item")
        self.transactions.append(list(items))
        return [i * 10 for i in items]

    async def one(self, item: int) -> int:
        await self.gate.wait()
        if item < 0:
            raise ValueError(f"negative: {item}")
        self.transactions.append([item])
        return item * 10


async def test_a_lone_item_is_written_alone() -> None:
    db = Recorder()
    batcher = Batcher(db.many, db.one)
    assert await batcher.submit(7) == 70
    assert db.transactions == [[7]]
    assert batcher.batches == 0


async def test_items_that_arrive_during_a_write_share_the_next_transaction() -> None:
    db = Recorder()
    batcher = Batcher(db.many, db.one, max_batch=8)
    db.gate.clear()
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.submit(n)) for n in range(1, 20)]
    await asyncio.sleep(0.01)
    db.gate.set()
    assert await first == 0
    assert [await t for t in rest] == [n * 10 for n in range(1, 20)]
    # The first alone, then the 19 that queued behind it, 8 at most per transaction.
    assert db.transactions == [[0], list(range(1, 9)), list(range(9, 17)), list(range(17, 20))]
    assert (batcher.batches, batcher.batched) == (3, 19)


async def test_a_failed_batch_gives_each_item_its_own_answer() -> None:
    db = Recorder()
    batcher = Batcher(db.many, db.one)
    db.gate.clear()
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(batcher.submit(n)) for n in (2, -3, 4)]
    await asyncio.sleep(0.01)
    db.gate.set()
    assert await first == 10
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert answers[0] == 20
    assert answers[2] == 40
    assert isinstance(answers[1], ValueError)
    assert "negative: -3" in str(answers[1])
    assert sorted(db.transactions) == [[1], [2], [4]]


async def test_a_cancelled_caller_does_not_cancel_the_write() -> None:
    db = Recorder()
    batcher = Batcher(db.many, db.one)
    db.gate.clear()
    task = asyncio.create_task(batcher.submit(5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    db.gate.set()
    await asyncio.sleep(0.01)
    assert db.transactions == [[5]]


async def test_a_writer_cancelled_at_shutdown_leaves_nobody_waiting() -> None:
    db = Recorder()
    batcher = Batcher(db.many, db.one)
    db.gate.clear()
    waiting = [asyncio.create_task(batcher.submit(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    writer = batcher._writer
    assert writer is not None
    writer.cancel()
    done = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=2)
    assert all(isinstance(d, asyncio.CancelledError) for d in done)
    assert batcher._writer is None
    # And the next item starts a new writer.
    db.gate.set()
    assert await batcher.submit(9) == 90
