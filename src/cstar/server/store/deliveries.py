"""The delivery half of the storage contract: publishing, claiming, recording, re-queueing.

Written with SQLAlchemy Core, the same for every database. What a database does its own way
(the hot statements of publishing and of the dispatcher's cycle, the claim of an idempotency
key, waking the workers) is its backend's (``store/backend.py``), given to the store when the
server starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import Attempt, Delivery, DeliveryStatus, Event
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.domain.stats import HourlyStats, hour_of
from cstar.server.domain.webhooks import FIFO
from cstar.server.store.backend import Backend, KeyedPublish, KeyTaken, Publish
from cstar.server.store.base import SqlBase
from cstar.server.store.batching import Batcher
from cstar.server.store.contract import (
    AttemptOutcome,
    BatchPublish,
    ClaimRequest,
    CycleResult,
    DeliveryFilter,
    PublishOutcome,
    QueuedDelivery,
)
from cstar.server.store.database import Database
from cstar.server.store.schema import (
    LATENCY_COLUMNS,
    UTCDateTime,
    deliveries,
    delivery_attempts,
    delivery_stats,
    events,
    idempotency_keys,
    webhooks,
)

_PURGE_CHUNK = 5000
#: Each purge transaction aims to hold the writer about this long (seconds): SQLite has one
#: writer, and publishes and the dispatcher's cycle wait behind it.
PURGE_HOLD_TARGET = 0.005
#: Events in the first purge transaction; later ones are sized by how long the last one took.
PURGE_FIRST_CHUNK = 8
#: After each purge transaction the purge waits this many times as long as it took, so that it
#: takes at most a twentieth of the writer's time however much there is to delete.
PURGE_PAUSE_FACTOR = 19.0


class ChunkSizer:
    """How many rows the next purge transaction takes so that it lasts about ``target``:
    doubled after a transaction that took less than half of it, cut in proportion (with a
    margin) after one that took longer, always within ``smallest`` and ``largest``."""

    def __init__(self, *, target: float, start: int, smallest: int, largest: int) -> None:
        self.target = target
        self.size = max(smallest, min(largest, start))
        self._smallest = smallest
        self._largest = largest

    def observe(self, seconds: float) -> None:
        if seconds > self.target:
            self.size = max(self._smallest, int(self.size * self.target / seconds * 0.8))
        elif seconds < self.target / 2:
            self.size = min(self._largest, self.size * 2)


class SqlDeliveryStore(SqlBase):
    def __init__(self, database: Database, backend: Backend) -> None:
        super().__init__(database)
        #: This database's own ways: publishing, the dispatch cycle, waking the workers.
        self._backend = backend
        #: Publishes that share transactions, where the backend groups publishes: one commit
        #: for all that arrive while one is written.
        self._plain: Batcher[Publish, PublishOutcome] = Batcher(
            self._publish_many, self._publish_one
        )
        self._keyed: Batcher[KeyedPublish, PublishOutcome] = Batcher(
            self._publish_keyed_many, self._publish_keyed_one
        )
        #: The longest one purge transaction's statements took, in seconds (operators and
        #: ``bench/purge.py``), and how many transactions the last purge made.
        self.purge_longest_hold = 0.0
        self.purge_transactions = 0
        #: Whole days of attempts the last purge dropped (PostgreSQL's partitions).
        self.purged_attempt_days = 0

    @property
    def publish_batches(self) -> Batcher[Publish, PublishOutcome]:
        """The batcher of publishes without a key, for its counters (tests and benchmarks)."""
        return self._plain

    @property
    def keyed_publish_batches(self) -> Batcher[KeyedPublish, PublishOutcome]:
        """The batcher of keyed publishes, for its counters (tests and benchmarks)."""
        return self._keyed

    # -- publishing --------------------------------------------------------------------------
    async def publish(
        self,
        event: Event,
        *,
        patterns: Sequence[str],
        idempotency_key: str | None,
        idempotency_since: datetime,
        now: datetime,
    ) -> PublishOutcome:
        if idempotency_key is None:
            plain = (event, patterns, now)
            if self._backend.groups_publishes:
                return await self._plain.submit(plain)
            return await self._publish_one(plain)
        keyed = (event, patterns, now, idempotency_key, idempotency_since)
        if self._backend.groups_keyed_publishes:
            return await self._keyed.submit(keyed)
        return await self._publish_keyed_one(keyed)

    async def _publish_one(self, item: Publish) -> PublishOutcome:
        (outcome,) = await self._publish_many([item])
        return outcome

    async def _publish_many(self, items: Sequence[Publish]) -> list[PublishOutcome]:
        """Several events and their fan-out in one transaction."""

        def work(conn: Connection) -> list[PublishOutcome]:
            return _published(items, self._backend.publish_many(conn, items))

        return await self._write(work)

    async def _publish_keyed_one(self, item: KeyedPublish) -> PublishOutcome:
        """A keyed publish in a transaction of its own: a replay when the key is fresh."""
        event, patterns, now, key, since = item

        def work(conn: Connection) -> PublishOutcome:
            replay = _replay(conn, event.team_id, key, since)
            if replay is not None:
                return replay
            self._backend.insert_events(conn, [event])
            self._backend.claim_key(conn, event, key, since)
            (queued,) = self._backend.fan_out(conn, [(event, patterns, now)])
            self._backend.notify(conn, deliveries=bool(queued))
            (outcome,) = _published([(event, patterns, now)], [queued])
            return outcome

        try:
            return await self._write(work)
        except KeyTaken:
            replay = await self._read(lambda conn: _replay(conn, event.team_id, key, since))
            if replay is None:  # pragma: no cover - the winner committed before we got here
                raise
            return replay

    async def _publish_keyed_many(self, items: Sequence[KeyedPublish]) -> list[PublishOutcome]:
        """Keyed publishes that queued together, in one transaction, as long as none of them is
        a replay and every key is free; otherwise nothing is written and the batcher publishes
        each alone (``_publish_keyed_one``), which sorts out replays and races."""
        plain = [(event, patterns, now) for event, patterns, now, _key, _since in items]

        def work(conn: Connection) -> list[PublishOutcome]:
            self._backend.insert_events(conn, [event for event, _, _ in plain])
            if not self._backend.claim_new_keys(conn, items):
                raise _OneByOne
            queued = self._backend.fan_out(conn, plain)
            self._backend.notify(conn, deliveries=any(queued))
            return _published(plain, queued)

        return await self._write(work)

    async def publish_batch(
        self, items: Sequence[BatchPublish], *, idempotency_since: datetime
    ) -> list[PublishOutcome]:
        def work(conn: Connection) -> list[PublishOutcome]:
            outcomes: list[PublishOutcome | None] = [None] * len(items)
            fresh: list[int] = []
            first_of_key: dict[str, int] = {}
            repeats: dict[int, int] = {}
            for index, (event, _patterns, _now, key) in enumerate(items):
                if key is None:
                    fresh.append(index)
                elif key in first_of_key:
                    repeats[index] = first_of_key[key]
                elif (replay := _replay(conn, event.team_id, key, idempotency_since)) is not None:
                    outcomes[index] = replay
                    first_of_key[key] = index
                else:
                    first_of_key[key] = index
                    fresh.append(index)
            plain = [(items[i][0], items[i][1], items[i][2]) for i in fresh]
            self._backend.insert_events(conn, [event for event, _, _ in plain])
            for key, index in first_of_key.items():
                if outcomes[index] is None:
                    self._backend.claim_key(conn, items[index][0], key, idempotency_since)
            queued = self._backend.fan_out(conn, plain)
            self._backend.notify(conn, deliveries=any(queued))
            for index, outcome in zip(fresh, _published(plain, queued), strict=True):
                outcomes[index] = outcome
            for index, first in repeats.items():
                earlier = outcomes[first]
                assert earlier is not None
                outcomes[index] = PublishOutcome(earlier.event, earlier.queued, replayed=True)
            return [o for o in outcomes if o is not None]

        try:
            return await self._write(work)
        except KeyTaken:  # a concurrent publish took a key first: now it is a replay
            return await self._write(work)

    async def record_test_send(self, event: Event, delivery: Delivery, attempt: Attempt) -> None:
        def work(conn: Connection) -> None:
            self._backend.insert_events(conn, [event])
            self._backend.notify(conn, deliveries=False)
            conn.execute(deliveries.insert().values(**_delivery_values(delivery)))
            conn.execute(delivery_attempts.insert().values(**_attempt_values(attempt)))

        await self._write(work)

    # -- dispatching -------------------------------------------------------------------------
    async def record_and_claim(
        self,
        outcomes: Sequence[AttemptOutcome],
        claim: ClaimRequest | None,
        *,
        worker_id: str,
        now: datetime,
        disable_failing_since: datetime,
    ) -> CycleResult:
        return await self._backend.record_and_claim(
            outcomes,
            claim,
            worker_id=worker_id,
            now=now,
            disable_failing_since=disable_failing_since,
        )

    async def release_unheld(self, held: Sequence[str], *, worker_id: str) -> int:
        keep = list(held)

        def work(conn: Connection) -> int:
            statement = deliveries.update().where(
                deliveries.c.status == DeliveryStatus.PENDING.value,
                deliveries.c.leased_by == worker_id,
            )
            if keep:
                statement = statement.where(deliveries.c.id.not_in(keep))
            count = int(conn.execute(statement.values(lease_until=None, leased_by=None)).rowcount)
            if count:
                self._backend.wake_workers(conn)
            return count

        return await self._write(work)

    async def release(self, delivery_ids: Sequence[str], *, worker_id: str) -> None:
        if not delivery_ids:
            return
        ids = list(delivery_ids)

        def work(conn: Connection) -> None:
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(ids), deliveries.c.leased_by == worker_id)
                .values(lease_until=None, leased_by=None)
            )
            self._backend.wake_workers(conn)

        await self._write(work)

    async def next_due_at(self, now: datetime) -> datetime | None:
        """When the next delivery not held by a live lease falls due."""
        return await self._backend.next_due_at(now)

    async def add_partitions(self, today: date) -> None:
        """Make the day partitions of the attempts for ``today`` and the days just after, where the
        database keeps days apart (PostgreSQL)."""
        await self._backend.add_partitions(today)

    async def purge(self, *, completed_before: datetime, idempotency_before: datetime) -> int:
        """Delete events older than ``completed_before`` with nothing left to deliver (their
        deliveries and attempts go with them, by cascade), in chunks. Events with a pending or
        paused delivery are kept however old: nothing owed is ever dropped."""
        unfinished = sa.exists().where(
            deliveries.c.event_id == events.c.id,
            deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.PAUSED.value]),
        )
        oldest = (
            sa.select(events.c.id)
            .where(
                events.c.created_at < completed_before,
                ~unfinished,
                # The newest event stays, so SQLite's MAX(seq) + 1 never hands out a number
                # a stream has already seen.
                events.c.seq < sa.select(sa.func.max(events.c.seq)).scalar_subquery(),
            )
            .limit(sa.bindparam("chunk"))
        )

        def count_deliveries(conn: Connection, ids: list[str]) -> int:
            return int(
                conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(deliveries)
                    .where(deliveries.c.event_id.in_(ids))
                )
                or 0
            )

        def purge_chunk(conn: Connection, size: int) -> tuple[int, int]:
            ids = list(conn.scalars(oldest, {"chunk": size}))
            if not ids:
                return 0, 0
            removed = count_deliveries(conn, ids)
            conn.execute(events.delete().where(events.c.id.in_(ids)))
            return len(ids), removed

        self.purge_transactions = 0
        # Whole days of attempts first, where the database keeps days apart (PostgreSQL's
        # partitions): what is left of them below goes with its delivery.
        self.purged_attempt_days = await self._backend.drop_partitions(completed_before)
        # Sized by time, not rows: an event may carry one delivery or a hundred, each with up
        # to fifteen attempts, and the cascade deletes them all in its transaction.
        removed = await self._in_timed_chunks(purge_chunk)
        keys = sa.tuple_(idempotency_keys.c.team_id, idempotency_keys.c.key)
        expired = (
            sa.select(idempotency_keys.c.team_id, idempotency_keys.c.key)
            .where(idempotency_keys.c.created_at < idempotency_before)
            .limit(sa.bindparam("chunk"))
        )
        await self._in_timed_chunks(
            lambda conn, size: _deleted(
                conn, idempotency_keys.delete().where(keys.in_(expired)), size
            )
        )
        stats_key = sa.tuple_(delivery_stats.c.webhook_id, delivery_stats.c.hour)
        old_stats = (
            sa.select(delivery_stats.c.webhook_id, delivery_stats.c.hour)
            .where(delivery_stats.c.hour < hour_of(completed_before))
            .limit(sa.bindparam("chunk"))
        )
        await self._in_timed_chunks(
            lambda conn, size: _deleted(
                conn, delivery_stats.delete().where(stats_key.in_(old_stats)), size
            )
        )
        return removed

    async def _in_timed_chunks(self, chunk: Callable[[Connection, int], tuple[int, int]]) -> int:
        """Run ``chunk(conn, size)`` (rows handled, and a count to add up) in transactions
        until one handles fewer than ``size`` rows, each sized to hold the writer about
        ``PURGE_HOLD_TARGET`` and, with a single writer, followed by a pause; the sum."""
        sizer = ChunkSizer(
            target=PURGE_HOLD_TARGET, start=PURGE_FIRST_CHUNK, smallest=1, largest=_PURGE_CHUNK
        )

        def timed(conn: Connection, size: int) -> tuple[int, int, float]:
            began = time.perf_counter()
            handled, counted = chunk(conn, size)
            return handled, counted, time.perf_counter() - began

        total = 0
        while True:
            size = sizer.size
            handled, counted, took = await self._write(
                lambda conn, size=size: timed(conn, size)  # type: ignore[misc]
            )
            self.purge_transactions += 1
            self.purge_longest_hold = max(self.purge_longest_hold, took)
            sizer.observe(took)
            total += counted
            if handled < size:
                return total
            if self._backend.single_writer:
                await asyncio.sleep(took * PURGE_PAUSE_FACTOR)

    # -- reading and re-queueing -------------------------------------------------------------
    async def hourly_stats(
        self, team_id: str, webhook_ids: Sequence[str], *, since: datetime
    ) -> list[HourlyStats]:
        ids = sorted(set(webhook_ids))
        if not ids:
            return []
        # One range of the primary key (webhook_id, hour) per webhook: the hours, never the
        # attempts. The join keeps other teams' webhooks out. Sorted here rather than by the
        # database, whose collation may order ids differently from one server to another.
        query = (
            sa.select(delivery_stats)
            .join(webhooks, webhooks.c.id == delivery_stats.c.webhook_id)
            .where(
                webhooks.c.team_id == team_id,
                delivery_stats.c.webhook_id.in_(ids),
                delivery_stats.c.hour >= hour_of(since),
            )
        )
        rows = await self._read(lambda conn: [_stats_from_row(row) for row in conn.execute(query)])
        return sorted(rows, key=lambda row: (row.webhook_id, row.hour))

    async def get_event(self, team_id: str, event_id: str) -> Event | None:
        return await self._read(lambda conn: _get_event(conn, team_id, event_id))

    async def get_delivery(self, team_id: str, delivery_id: str) -> Delivery | None:
        return await self._read(lambda conn: _get_delivery(conn, team_id, delivery_id))

    async def list_deliveries(
        self, team_id: str, where: DeliveryFilter, page: PageRequest
    ) -> Page[Delivery]:
        query = sa.select(deliveries).where(deliveries.c.team_id == team_id)
        if where.webhook_id is not None:
            query = query.where(deliveries.c.webhook_id == where.webhook_id)
        if where.status is not None:
            query = query.where(deliveries.c.status == where.status.value)
        if where.event_type is not None:
            query = query.where(deliveries.c.event_type == where.event_type)
        if page.after is not None:
            query = query.where(
                sa.tuple_(deliveries.c.created_at, deliveries.c.id)
                < sa.tuple_(
                    sa.literal(page.after.created_at, UTCDateTime()),
                    sa.literal(page.after.id, sa.String),
                )
            )
        query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(
            page.limit + 1
        )

        def work(conn: Connection) -> Page[Delivery]:
            items = [_delivery_from_row(r) for r in conn.execute(query)]
            return Page(items=items[: page.limit], has_more=len(items) > page.limit)

        return await self._read(work)

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        query = (
            sa.select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.attempt, delivery_attempts.c.id)
        )
        return await self._read(lambda conn: [_attempt_from_row(r) for r in conn.execute(query)])

    async def requeue(self, team_id: str, delivery_id: str, now: datetime) -> Delivery | None:
        statement = (
            deliveries.update()
            .where(deliveries.c.team_id == team_id, deliveries.c.id == delivery_id)
            .values(**_requeue_values(now))
        )

        def work(conn: Connection) -> Delivery | None:
            if conn.execute(statement).rowcount == 0:
                return None
            self._backend.wake_workers(conn)
            return _get_delivery(conn, team_id, delivery_id)

        return await self._write(work)

    async def recover(
        self, team_id: str, webhook_id: str, *, since: datetime, now: datetime
    ) -> int:
        statement = (
            deliveries.update()
            .where(
                deliveries.c.team_id == team_id,
                deliveries.c.webhook_id == webhook_id,
                deliveries.c.status == DeliveryStatus.FAILED.value,
                deliveries.c.created_at >= since,
            )
            .values(**_requeue_values(now))
        )

        def work(conn: Connection) -> int:
            count = int(conn.execute(statement).rowcount)
            if count:
                self._backend.wake_workers(conn)
            return count

        return await self._write(work)


def _replay(conn: Connection, team_id: str, key: str, since: datetime) -> PublishOutcome | None:
    row = conn.execute(
        sa.select(idempotency_keys.c.event_id, idempotency_keys.c.created_at).where(
            idempotency_keys.c.team_id == team_id, idempotency_keys.c.key == key
        )
    ).first()
    if row is None or row.created_at < since:
        return None
    event = _get_event(conn, team_id, row.event_id)
    if event is None:
        return None
    queued = conn.execute(
        sa.select(deliveries.c.id, deliveries.c.webhook_id)
        .where(deliveries.c.event_id == event.id)
        .order_by(deliveries.c.created_at, deliveries.c.id)
    )
    return PublishOutcome(
        event=event,
        queued=[QueuedDelivery(r.id, r.webhook_id) for r in queued],
        replayed=True,
    )


# -- statements and row mapping --------------------------------------------------------------


def _requeue_values(now: datetime) -> dict[str, Any]:
    active = (
        sa.select(webhooks.c.is_active)
        .where(webhooks.c.id == deliveries.c.webhook_id)
        .scalar_subquery()
    )
    waits = (
        sa.select(sa.or_(webhooks.c.ordering == FIFO, webhooks.c.rate_limit.is_not(None)))
        .where(webhooks.c.id == deliveries.c.webhook_id)
        .scalar_subquery()
    )
    seq = sa.select(events.c.seq).where(events.c.id == deliveries.c.event_id).scalar_subquery()
    return {
        "status": sa.case(
            (active.is_(True), DeliveryStatus.PENDING.value), else_=DeliveryStatus.PAUSED.value
        ),
        # A FIFO or rate-limited webhook's delivery takes its turn again, by its event's place.
        "next_attempt_at": sa.case((waits.is_(True), sa.null()), else_=now),
        "event_seq": sa.case((waits.is_(True), seq), else_=deliveries.c.event_seq),
        "retry_index": 0,
        "completed_at": None,
        "updated_at": now,
        # A delivery in flight keeps its lease; its worker records the attempt it is making.
        "lease_until": sa.case(
            (deliveries.c.lease_until > now, deliveries.c.lease_until), else_=sa.null()
        ),
    }


def _delivery_values(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "team_id": d.team_id,
        "event_id": d.event_id,
        "webhook_id": d.webhook_id,
        "event_type": d.event_type,
        "status": d.status.value,
        "attempts": d.attempts,
        "retry_index": d.retry_index,
        "next_attempt_at": d.next_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "completed_at": d.completed_at,
    }


def _attempt_values(a: Attempt) -> dict[str, Any]:
    return {
        "delivery_id": a.delivery_id,
        "webhook_id": a.webhook_id,
        "attempt": a.attempt,
        "started_at": a.started_at,
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "success": a.success,
        "error": a.error,
        "url": a.url,
        "request_headers": a.request_headers,
        "response_body": a.response_body,
    }


def _get_event(conn: Connection, team_id: str, event_id: str) -> Event | None:
    row = conn.execute(
        sa.select(events).where(events.c.team_id == team_id, events.c.id == event_id)
    ).first()
    if row is None:
        return None
    return Event(
        id=row.id,
        team_id=row.team_id,
        type=row.type,
        payload=row.payload,
        request_id=row.request_id,
        is_test=bool(row.is_test),
        created_at=row.created_at,
    )


def _get_delivery(conn: Connection, team_id: str, delivery_id: str) -> Delivery | None:
    row = conn.execute(
        sa.select(deliveries).where(deliveries.c.team_id == team_id, deliveries.c.id == delivery_id)
    ).first()
    return None if row is None else _delivery_from_row(row)


def _delivery_from_row(row: sa.Row[Any]) -> Delivery:
    return Delivery(
        id=row.id,
        team_id=row.team_id,
        event_id=row.event_id,
        webhook_id=row.webhook_id,
        event_type=row.event_type,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        retry_index=row.retry_index,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
    )


def _stats_from_row(row: sa.Row[Any]) -> HourlyStats:
    return HourlyStats(
        webhook_id=row.webhook_id,
        hour=row.hour,
        succeeded=row.succeeded,
        retrying=row.retrying,
        failed=row.failed,
        latency=tuple(row._mapping[name] for name in LATENCY_COLUMNS),
    )


def _attempt_from_row(row: sa.Row[Any]) -> Attempt:
    return Attempt(
        delivery_id=row.delivery_id,
        webhook_id=row.webhook_id,
        attempt=row.attempt,
        started_at=row.started_at,
        duration_ms=row.duration_ms,
        status_code=row.status_code,
        success=bool(row.success),
        error=row.error,
        url=row.url,
        request_headers=dict(row.request_headers),
        response_body=row.response_body,
    )


class _OneByOne(Exception):
    """A batch of keyed publishes holds a replay or a key taken meanwhile: publish each alone."""


def _published(
    items: Sequence[Publish], queued: Sequence[Sequence[tuple[str, str]]]
) -> list[PublishOutcome]:
    """Each newly published event with the deliveries its fan-out queued."""
    return [
        PublishOutcome(event=event, queued=[QueuedDelivery(d, w) for d, w in each], replayed=False)
        for (event, _, _), each in zip(items, queued, strict=True)
    ]


def _deleted(conn: Connection, statement: sa.Delete, size: int) -> tuple[int, int]:
    """Run a chunked delete (its subquery limited by ``chunk``): rows deleted, twice."""
    deleted = int(conn.execute(statement, {"chunk": size}).rowcount)
    return deleted, deleted
