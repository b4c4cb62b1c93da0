"""The delivery half of the storage contract: publishing, claiming, recording, re-queueing.

Hot paths are one statement per batch: fan-out is ``INSERT ... SELECT`` over the subscription
index; a claim is one ``UPDATE ... RETURNING`` (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` in the same
statement; SQLite: the single writer connection serialises claimers); results are written with
one ``executemany`` per table per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import Attempt, Delivery, DeliveryStatus, Event
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.domain.stats import HourlyStats, hour_of
from cstar.server.store.base import SqlBase
from cstar.server.store.batching import Batcher
from cstar.server.store.channels import DELIVERIES_CHANNEL
from cstar.server.store.contract import (
    AttemptOutcome,
    ClaimedDelivery,
    ClaimRequest,
    CycleResult,
    DeliveryFilter,
    PublishOutcome,
    QueuedDelivery,
    StoreError,
)
from cstar.server.store.database import Database, PostgresDatabase
from cstar.server.store.hotpath import HotPath, PostgresHotPath, Publish, SqliteHotPath
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
from cstar.server.store.sql import set_deliveries_paused

_PURGE_CHUNK = 5000
#: A cycle whose outcomes keep turning stale (leases changing under it) gives up after this.
_STALE_ROUNDS = 3

GONE_REASON = "The endpoint answered 410 Gone"


def failing_reason(since: datetime) -> str:
    return f"Every delivery has failed since {since.isoformat(timespec='seconds')}"


class _KeyTaken(Exception):
    """A concurrent publish committed the same idempotency key first."""


class SqlDeliveryStore(SqlBase):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._sqlite = SqliteHotPath()
        self._postgres = PostgresHotPath()
        #: This database's statements for publishing (and, below, its dispatch cycle).
        self._hot: HotPath = self._postgres if self._pg else self._sqlite
        #: PostgreSQL: publishes without an idempotency key share transactions (SQLite's writer
        #: thread already groups its commits).
        self._publishes: Batcher[Publish, PublishOutcome] = Batcher(
            self._publish_many, self._publish_one
        )

    @property
    def publish_batches(self) -> Batcher[Publish, PublishOutcome]:
        """PostgreSQL's publish batcher, for its counters (tests and benchmarks)."""
        return self._publishes

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
            item = (event, patterns, now)
            if self._pg:
                return await self._publishes.submit(item)
            return await self._publish_one(item)

        def work(conn: Connection) -> PublishOutcome:
            replay = _replay(conn, event.team_id, idempotency_key, idempotency_since)
            if replay is not None:
                return replay
            self._hot.insert_events(conn, [event])
            self._claim_key(conn, event, idempotency_key, idempotency_since)
            (queued,) = self._hot.fan_out(conn, [(event, patterns, now)])
            self._hot.notify(conn, deliveries=bool(queued))
            return PublishOutcome(
                event=event, queued=[QueuedDelivery(d, w) for d, w in queued], replayed=False
            )

        try:
            return await self._write(work)
        except _KeyTaken:
            key = idempotency_key or ""
            replay = await self._read(
                lambda conn: _replay(conn, event.team_id, key, idempotency_since)
            )
            if replay is None:  # pragma: no cover - the winner committed before we got here
                raise
            return replay

    async def _publish_one(self, item: Publish) -> PublishOutcome:
        (outcome,) = await self._publish_many([item])
        return outcome

    async def _publish_many(self, items: Sequence[Publish]) -> list[PublishOutcome]:
        """Several events and their fan-out in one transaction."""

        def work(conn: Connection) -> list[PublishOutcome]:
            queued = self._hot.publish_many(conn, items)
            return [
                PublishOutcome(
                    event=event, queued=[QueuedDelivery(d, w) for d, w in each], replayed=False
                )
                for (event, _, _), each in zip(items, queued, strict=True)
            ]

        return await self._write(work)

    def _claim_key(self, conn: Connection, event: Event, key: str, since: datetime) -> None:
        """Record the key for this event; a stale key (older than ``since``) is replaced."""
        values = {
            "team_id": event.team_id,
            "key": key,
            "event_id": event.id,
            "created_at": event.created_at,
        }
        if not self._pg:
            # SQLite writers are serialised (BEGIN IMMEDIATE): the replay check above already
            # saw any fresh key, so whatever is left is stale.
            conn.execute(
                idempotency_keys.delete().where(
                    idempotency_keys.c.team_id == event.team_id, idempotency_keys.c.key == key
                )
            )
            conn.execute(idempotency_keys.insert().values(**values))
            return
        stmt = (
            postgresql.insert(idempotency_keys)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["team_id", "key"],
                set_={"event_id": event.id, "created_at": event.created_at},
                where=idempotency_keys.c.created_at < since,
            )
            .returning(idempotency_keys.c.key)
        )
        if conn.execute(stmt).first() is None:
            raise _KeyTaken

    def _notify(self, conn: Connection) -> None:
        """PostgreSQL: wake idle workers (there is work to claim) when this commits."""
        if self._pg:
            conn.execute(sa.select(sa.func.pg_notify(DELIVERIES_CHANNEL, "")))

    async def record_test_send(self, event: Event, delivery: Delivery, attempt: Attempt) -> None:
        def work(conn: Connection) -> None:
            self._hot.insert_events(conn, [event])
            self._hot.notify(conn, deliveries=False)
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
        if isinstance(self._db, PostgresDatabase):
            return await self._pg_cycle(
                outcomes, claim, worker_id, now, disable_failing_since, self._postgres, self._db
            )

        def work(conn: Connection) -> CycleResult:
            fresh = self._sqlite.ours(conn, outcomes, worker_id)
            disabled = self._record(conn, fresh, worker_id, now, disable_failing_since)
            claimed = self._claim(conn, claim) if claim is not None and claim.limit > 0 else []
            return CycleResult(
                claimed,
                disabled,
                self._sqlite.next_due(conn, now),
                stale=len(outcomes) - len(fresh),
            )

        # Only a cycle that records attempts must reach the disk before it returns.
        return await self._db.write_short(work, durable=bool(outcomes))

    async def _pg_cycle(
        self,
        outcomes: Sequence[AttemptOutcome],
        claim: ClaimRequest | None,
        worker_id: str,
        now: datetime,
        disable_failing_since: datetime,
        hot: PostgresHotPath,
        database: PostgresDatabase,
    ) -> CycleResult:
        """One call of ``cstar_cycle``, one transaction. Outcomes that are not ours to record
        (recorded before an answer was lost, or leased to another worker since) come back as
        stale with nothing written: they are dropped and the cycle is called again."""
        request = claim if claim is not None and claim.limit > 0 else None
        pending = list(outcomes)
        for _ in range(_STALE_ROUNDS):
            if request is None and not pending:
                return CycleResult(
                    [], [], await self.next_due_at(now), stale=len(outcomes) - len(pending)
                )
            answer = await database.call(
                partial(
                    hot.cycle,
                    outcomes=pending,
                    worker_id=worker_id,
                    now=now,
                    claim=request,
                    gone_reason=GONE_REASON,
                    disable_before=disable_failing_since,
                )
            )
            if not answer.stale:
                return CycleResult(
                    answer.claimed,
                    answer.disabled,
                    answer.next_due,
                    stale=len(outcomes) - len(pending),
                )
            pending = [o for o in pending if o.attempt.delivery_id not in answer.stale]
        raise StoreError("the dispatcher's leases kept changing during one cycle")

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
                self._notify(conn)
            return count

        return await self._write(work)

    def _claim(self, conn: Connection, request: ClaimRequest) -> list[ClaimedDelivery]:
        """SQLite's claim (PostgreSQL's is part of ``cstar_cycle``).

        The oldest due deliveries (a bounded window of them), ranked per webhook, so one claim
        takes at most each webhook's remaining room: a backlog for one endpoint can neither
        exceed its concurrency cap nor crowd the others out of a claim.
        """
        claimed = self._sqlite.claim(
            conn,
            now=request.now,
            limit=request.limit,
            lease_until=request.lease_until,
            worker_id=request.worker_id,
            per_webhook=request.per_webhook,
            busy=request.busy,
        )
        inactive = [c.delivery_id for c, active in claimed if not active]
        if inactive:  # deactivated between fan-out and claim: wait for re-activation
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(inactive))
                .values(status=DeliveryStatus.PAUSED.value, lease_until=None, leased_by=None)
            )
        return [c for c, active in claimed if active]

    def _record(
        self,
        conn: Connection,
        outcomes: Sequence[AttemptOutcome],
        worker_id: str,
        now: datetime,
        disable_failing_since: datetime,
    ) -> list[str]:
        if not outcomes:
            return []
        # Lock order, everywhere: webhook rows (sorted by id) before delivery rows. A user
        # deactivating a webhook takes them in the same order, so the two cannot deadlock.
        self._sqlite.record(conn, outcomes, worker_id)
        return self._after_record(conn, outcomes, now, disable_failing_since)

    def _after_record(
        self,
        conn: Connection,
        outcomes: Sequence[AttemptOutcome],
        now: datetime,
        disable_failing_since: datetime,
    ) -> list[str]:
        """Deactivate webhooks that answered 410 or have failed too long; pause the retries of
        webhooks that are inactive now. Nothing to do when every attempt succeeded."""
        failed = sorted({o.attempt.webhook_id for o in outcomes if not o.attempt.success})
        if not failed:
            return []
        gone = sorted({o.attempt.webhook_id for o in outcomes if o.deactivate_reason})
        disabled = _deactivate(conn, gone, failed, now, disable_failing_since)
        retrying = [o.attempt.delivery_id for o in outcomes if o.status is DeliveryStatus.PENDING]
        if retrying:  # their webhook was deactivated meanwhile (by a user or just now)
            inactive = sa.select(webhooks.c.id).where(
                webhooks.c.id.in_(failed), webhooks.c.is_active.is_(False)
            )
            conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.id.in_(retrying),
                    deliveries.c.status == DeliveryStatus.PENDING.value,
                    deliveries.c.webhook_id.in_(inactive),
                )
                .values(status=DeliveryStatus.PAUSED.value)
            )
        return disabled

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
            self._notify(conn)

        await self._write(work)

    async def next_due_at(self, now: datetime) -> datetime | None:
        """When the next delivery not held by a live lease falls due."""
        hot: SqliteHotPath | PostgresHotPath = self._postgres if self._pg else self._sqlite
        return await self._read(lambda conn: hot.next_due(conn, now))

    async def purge(self, *, completed_before: datetime, idempotency_before: datetime) -> int:
        """Delete events older than ``completed_before`` with nothing left to deliver (their
        deliveries and attempts go with them, by cascade), in chunks. Events with a pending or
        paused delivery are kept however old: nothing owed is ever dropped."""
        unfinished = sa.exists().where(
            deliveries.c.event_id == events.c.id,
            deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.PAUSED.value]),
        )
        chunk = (
            sa.select(events.c.id)
            .where(
                events.c.created_at < completed_before,
                ~unfinished,
                # The newest event stays, so SQLite's MAX(seq) + 1 never hands out a number
                # a stream has already seen.
                events.c.seq < sa.select(sa.func.max(events.c.seq)).scalar_subquery(),
            )
            .limit(_PURGE_CHUNK)
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

        def purge_chunk(conn: Connection) -> tuple[int, int]:
            ids = list(conn.scalars(chunk))
            if not ids:
                return 0, 0
            removed = count_deliveries(conn, ids)
            conn.execute(events.delete().where(events.c.id.in_(ids)))
            return len(ids), removed

        removed = 0
        while True:
            purged, count = await self._write(purge_chunk)
            removed += count
            if purged < _PURGE_CHUNK:
                break
        await self._write(
            lambda conn: conn.execute(
                idempotency_keys.delete().where(idempotency_keys.c.created_at < idempotency_before)
            )
        )
        await self._purge_stats(before=completed_before)
        return removed

    async def _purge_stats(self, *, before: datetime) -> None:
        """Delete the statistics of the hours that ended before ``before``, in chunks (by the
        hour index), so that SQLite's one writer is never held long."""
        key = sa.tuple_(delivery_stats.c.webhook_id, delivery_stats.c.hour)
        old = (
            sa.select(delivery_stats.c.webhook_id, delivery_stats.c.hour)
            .where(delivery_stats.c.hour < hour_of(before))
            .limit(_PURGE_CHUNK)
        )
        statement = delivery_stats.delete().where(key.in_(old))
        while True:
            deleted = await self._write(lambda conn: int(conn.execute(statement).rowcount))
            if deleted < _PURGE_CHUNK:
                return

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
            self._notify(conn)
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
                self._notify(conn)
            return count

        return await self._write(work)


def _deactivate(
    conn: Connection,
    gone: Sequence[str],
    webhook_ids: Sequence[str],
    now: datetime,
    failing_since: datetime,
) -> list[str]:
    disabled: list[str] = []
    if gone:
        result = conn.execute(
            webhooks.update()
            .where(webhooks.c.id.in_(list(gone)), webhooks.c.is_active.is_(True))
            .values(is_active=False, disabled_reason=GONE_REASON, disabled_at=now)
            .returning(webhooks.c.id)
        )
        disabled += list(result.scalars())
    failing = conn.execute(
        sa.select(webhooks.c.id, webhooks.c.failing_since).where(
            webhooks.c.id.in_(list(webhook_ids)),
            webhooks.c.is_active.is_(True),
            webhooks.c.failing_since.is_not(None),
            webhooks.c.failing_since <= failing_since,
        )
    ).all()
    for row in failing:
        conn.execute(
            webhooks.update()
            .where(webhooks.c.id == row.id)
            .values(
                is_active=False, disabled_reason=failing_reason(row.failing_since), disabled_at=now
            )
        )
        disabled.append(row.id)
    set_deliveries_paused(conn, disabled, paused=True)
    return disabled


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
    return {
        "status": sa.case(
            (active.is_(True), DeliveryStatus.PENDING.value), else_=DeliveryStatus.PAUSED.value
        ),
        "next_attempt_at": now,
        "retry_index": 0,
        "completed_at": None,
        "updated_at": now,
        # A delivery in flight keeps its lease; its worker records the attempt it is making.
        "lease_until": sa.case(
            (deliveries.c.lease_until > now, deliveries.c.lease_until), else_=sa.null()
        ),
    }


def _event_values(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "team_id": event.team_id,
        "type": event.type,
        "payload": event.payload,
        "request_id": event.request_id,
        "is_test": event.is_test,
        "created_at": event.created_at,
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
