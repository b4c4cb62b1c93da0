"""Group commit on the event loop: concurrent callers' items written together.

PostgreSQL commits each transaction separately, so one transaction per publish costs a BEGIN, a
few statements, a COMMIT and a WAL flush per event, and caps publishing at a few hundred events
a second. Here the first caller starts a writer task; while it writes a batch, the items that
arrive wait and go together in the next one (up to ``max_batch``). Every caller hears back only
after the transaction holding its item has committed.

A batch that fails is written again one item at a time, so one bad item fails alone and each
caller gets its own answer. A caller that is cancelled while waiting does not cancel the write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item, as R is the result
R = TypeVar("R")

log = logging.getLogger(__name__)


class Batcher(Generic[I, R]):
    def __init__(
        self,
        write_many: Callable[[Sequence[I]], Awaitable[Sequence[R]]],
        write_one: Callable[[I], Awaitable[R]],
        *,
        max_batch: int = 64,
    ) -> None:
        self._write_many = write_many
        self._write_one = write_one
        self._max_batch = max_batch
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: Transactions committed with more than one item, and the items they carried.
        self.batches = 0
        self.batched = 0

    async def submit(self, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="cstar-group-commit")
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        batch: list[tuple[I, asyncio.Future[R]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)
        except BaseException as exc:  # cancelled at shutdown: nobody is left waiting forever
            for _, future in [*batch, *self._waiting]:
                _settle(future, None, exc)
            self._waiting.clear()
            raise
        finally:
            self._writer = None

    async def _write(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        if len(batch) > 1:
            try:
                results = await self._write_many([item for item, _ in batch])
            except Exception as exc:  # each item is tried alone below, for its own answer
                log.debug("a batch of %d failed (%s); writing each alone", len(batch), exc)
            else:
                self.batches += 1
                self.batched += len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    _settle(future, result, None)
                return
        answers = await asyncio.gather(
            *(self._write_one(item) for item, _ in batch), return_exceptions=True
        )
        for (_, future), answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException):
                _settle(future, None, answer)
            else:
                _settle(future, answer, None)


def _settle(future: asyncio.Future[R], result: R | None, error: BaseException | None) -> None:
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is not None:
        future.set_exception(error)
        future.exception()  # a caller that was cancelled meanwhile is not told of it in the log
    else:
        future.set_result(result)  # type: ignore[arg-type]
