"""The delivery half of the storage contract: publishing, claiming, recording, re-queueing.

Hot paths are one statement per batch: fan-out is ``INSERT ... SELECT`` over the subscription
index; a claim is one ``UPDATE ... RETURNING`` (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` in the same
statement; SQLite: the single writer connection serialises claimers); results are written with
one ``executemany`` per table per batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from cstar.server.domain.deliveries import Attempt, Delivery, DeliveryStatus, Event
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.store.base import SqlBase
from cstar.server.store.contract import (
    AttemptOutcome,
    ClaimedDelivery,
    DeliveryFilter,
    PublishOutcome,
    QueuedDelivery,
)
from cstar.server.store.schema import (
    UTCDateTime,
    deliveries,
    delivery_attempts,
    events,
    idempotency_keys,
    webhook_subscriptions,
    webhooks,
)
from cstar.server.store.sql import set_deliveries_paused

NOTIFY_CHANNEL = "cstar_deliveries"
#: A claim looks at this many times ``limit`` of the oldest due deliveries to choose from.
_CLAIM_SCAN_FACTOR = 4
_PURGE_CHUNK = 5000

GONE_REASON = "The endpoint answered 410 Gone"


def failing_reason(since: datetime) -> str:
    return f"Every delivery has failed since {since.isoformat(timespec='seconds')}"


class _KeyTaken(Exception):
    """A concurrent publish committed the same idempotency key first."""


class SqlDeliveryStore(SqlBase):
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
        try:
            async with self._write() as conn:
                if idempotency_key is not None:
                    replay = await self._replay(
                        conn, event.team_id, idempotency_key, idempotency_since
                    )
                    if replay is not None:
                        return replay
                await conn.execute(events.insert().values(**_event_values(event)))
                if idempotency_key is not None:
                    await self._claim_key(conn, event, idempotency_key, idempotency_since)
                queued = await self._fan_out(conn, event, patterns, now)
                if queued:
                    await self._notify(conn)
                return PublishOutcome(event=event, queued=queued, replayed=False)
        except _KeyTaken:
            async with self._read() as conn:
                replay = await self._replay(
                    conn, event.team_id, idempotency_key or "", idempotency_since
                )
            if replay is None:  # pragma: no cover - the winner committed before we got here
                raise
            return replay

    async def _replay(
        self, conn: AsyncConnection, team_id: str, key: str, since: datetime
    ) -> PublishOutcome | None:
        row = (
            await conn.execute(
                sa.select(idempotency_keys.c.event_id, idempotency_keys.c.created_at).where(
                    idempotency_keys.c.team_id == team_id, idempotency_keys.c.key == key
                )
            )
        ).first()
        if row is None or row.created_at < since:
            return None
        event = await _get_event(conn, team_id, row.event_id)
        if event is None:
            return None
        queued = await conn.execute(
            sa.select(deliveries.c.id, deliveries.c.webhook_id)
            .where(deliveries.c.event_id == event.id)
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        return PublishOutcome(
            event=event,
            queued=[QueuedDelivery(r.id, r.webhook_id) for r in queued],
            replayed=True,
        )

    async def _claim_key(
        self, conn: AsyncConnection, event: Event, key: str, since: datetime
    ) -> None:
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
            await conn.execute(
                idempotency_keys.delete().where(
                    idempotency_keys.c.team_id == event.team_id, idempotency_keys.c.key == key
                )
            )
            await conn.execute(idempotency_keys.insert().values(**values))
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
        if (await conn.execute(stmt)).first() is None:
            raise _KeyTaken

    def _delivery_id_sql(self) -> sa.ColumnElement[str]:
        if self._pg:
            random_part: sa.ColumnElement[str] = sa.func.replace(
                sa.cast(sa.func.gen_random_uuid(), sa.String), "-", ""
            )
        else:
            random_part = sa.func.lower(sa.func.hex(sa.func.randomblob(12)))
        return sa.literal("dlv_", sa.String) + random_part

    async def _fan_out(
        self, conn: AsyncConnection, event: Event, patterns: Sequence[str], now: datetime
    ) -> list[QueuedDelivery]:
        subscribed = sa.select(webhook_subscriptions.c.webhook_id).where(
            webhook_subscriptions.c.team_id == event.team_id,
            webhook_subscriptions.c.pattern.in_(list(patterns)),
        )
        moment = sa.literal(now, UTCDateTime())
        source = sa.select(
            self._delivery_id_sql(),
            sa.literal(event.team_id, sa.String),
            sa.literal(event.id, sa.String),
            webhooks.c.id,
            sa.literal(event.type, sa.String),
            sa.literal(DeliveryStatus.PENDING.value, sa.String),
            sa.literal(0, sa.Integer),
            sa.literal(0, sa.Integer),
            moment,
            moment,
            moment,
        ).where(
            webhooks.c.team_id == event.team_id,
            webhooks.c.is_active.is_(True),
            webhooks.c.id.in_(subscribed),
        )
        columns = [
            "id",
            "team_id",
            "event_id",
            "webhook_id",
            "event_type",
            "status",
            "attempts",
            "retry_index",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ]
        stmt = (
            deliveries.insert()
            .from_select(columns, source)
            .returning(deliveries.c.id, deliveries.c.webhook_id)
        )
        rows = (await conn.execute(stmt)).all()
        return [QueuedDelivery(r.id, r.webhook_id) for r in rows]

    async def _notify(self, conn: AsyncConnection) -> None:
        if self._pg:
            await conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))

    async def record_test_send(self, event: Event, delivery: Delivery, attempt: Attempt) -> None:
        async with self._write() as conn:
            await conn.execute(events.insert().values(**_event_values(event)))
            await conn.execute(deliveries.insert().values(**_delivery_values(delivery)))
            await conn.execute(delivery_attempts.insert().values(**_attempt_values(attempt)))

    # -- dispatching -------------------------------------------------------------------------
    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease_until: datetime,
        worker_id: str,
        per_webhook: int,
        busy: Mapping[str, int] | None = None,
    ) -> list[ClaimedDelivery]:
        busy = busy or {}
        saturated = [w for w, n in busy.items() if n >= per_webhook]
        claimable = sa.and_(
            deliveries.c.status == DeliveryStatus.PENDING.value,
            deliveries.c.next_attempt_at <= now,
            sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
        )
        # The oldest due deliveries (a bounded window of them), ranked per webhook, so that one
        # claim takes at most each webhook's remaining room: a backlog for one endpoint can
        # neither exceed its concurrency cap nor crowd the others out of a claim.
        candidates = (
            sa.select(deliveries.c.id, deliveries.c.webhook_id, deliveries.c.next_attempt_at)
            .where(claimable)
            .order_by(deliveries.c.next_attempt_at)
            .limit(max(limit * _CLAIM_SCAN_FACTOR, 100))
        )
        if saturated:
            candidates = candidates.where(deliveries.c.webhook_id.not_in(saturated))
        window = candidates.subquery("candidates")
        room: sa.ColumnElement[int] = sa.literal(per_webhook, sa.Integer)
        partial = {w: per_webhook - n for w, n in busy.items() if 0 < n < per_webhook}
        if partial:
            room = sa.case(partial, value=window.c.webhook_id, else_=per_webhook)
        ranked = sa.select(
            window.c.id,
            window.c.next_attempt_at,
            sa.func.row_number()
            .over(partition_by=window.c.webhook_id, order_by=window.c.next_attempt_at)
            .label("rank"),
            room.label("room"),
        ).subquery("ranked")
        picked = (
            sa.select(ranked.c.id)
            .where(ranked.c.rank <= ranked.c.room)
            .order_by(ranked.c.next_attempt_at)
            .limit(limit)
        )
        async with self._write() as conn:
            if self._pg:
                # Lock what was picked, re-checking claimability on the locked row: a row another
                # worker claimed since this statement's snapshot is skipped, not taken twice.
                locked = (
                    sa.select(deliveries.c.id)
                    .where(deliveries.c.id.in_(picked.scalar_subquery()), claimable)
                    .with_for_update(skip_locked=True)
                    .cte("locked")
                )
                claimed = (
                    deliveries.update()
                    .where(deliveries.c.id == locked.c.id)
                    .values(lease_until=lease_until, leased_by=worker_id)
                    .returning(deliveries.c.id)
                    .cte("claimed")
                )
                rows = (await conn.execute(_claimed_rows(sa.select(claimed.c.id)))).all()
            else:
                ids = (
                    (
                        await conn.execute(
                            deliveries.update()
                            .where(deliveries.c.id.in_(picked.scalar_subquery()))
                            .values(lease_until=lease_until, leased_by=worker_id)
                            .returning(deliveries.c.id)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    return []
                rows = (await conn.execute(_claimed_rows(list(ids)))).all()
            inactive = [r.id for r in rows if not r.is_active]
            if inactive:  # deactivated between fan-out and claim: wait for re-activation
                await conn.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(inactive))
                    .values(status=DeliveryStatus.PAUSED.value, lease_until=None, leased_by=None)
                )
        return [
            ClaimedDelivery(
                delivery_id=r.id,
                team_id=r.team_id,
                event_id=r.event_id,
                event_type=r.event_type,
                webhook_id=r.webhook_id,
                url=r.url,
                payload=r.payload,
                request_id=r.request_id,
                attempts=r.attempts,
                retry_index=r.retry_index,
                secret_ciphertext=r.secret_ciphertext,
                previous_secret_ciphertext=r.previous_secret_ciphertext,
                previous_secret_expires_at=r.previous_secret_expires_at,
                lease_until=lease_until,
            )
            for r in rows
            if r.is_active
        ]

    async def record(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        worker_id: str,
        now: datetime,
        disable_failing_since: datetime,
    ) -> list[str]:
        if not outcomes:
            return []
        async with self._write() as conn:
            # Lock order, everywhere: webhook rows (sorted by id) before delivery rows. A user
            # deactivating a webhook takes them in the same order, so the two cannot deadlock.
            await conn.execute(_RECORD_HEALTH, _health_rows(outcomes))
            await conn.execute(
                delivery_attempts.insert(), [_attempt_values(o.attempt) for o in outcomes]
            )
            await conn.execute(_RECORD_DELIVERY, [_record_values(o, worker_id) for o in outcomes])
            webhook_ids = sorted({o.attempt.webhook_id for o in outcomes})
            disabled = await self._deactivate(
                conn, outcomes, webhook_ids, now, disable_failing_since
            )
            retrying = [
                o.attempt.delivery_id for o in outcomes if o.status is DeliveryStatus.PENDING
            ]
            if retrying:  # their webhook was deactivated meanwhile (by a user or just now)
                inactive = sa.select(webhooks.c.id).where(
                    webhooks.c.id.in_(webhook_ids), webhooks.c.is_active.is_(False)
                )
                await conn.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.id.in_(retrying),
                        deliveries.c.status == DeliveryStatus.PENDING.value,
                        deliveries.c.webhook_id.in_(inactive),
                    )
                    .values(status=DeliveryStatus.PAUSED.value)
                )
        return disabled

    async def _deactivate(
        self,
        conn: AsyncConnection,
        outcomes: Sequence[AttemptOutcome],
        webhook_ids: Sequence[str],
        now: datetime,
        failing_since: datetime,
    ) -> list[str]:
        disabled: list[str] = []
        gone = sorted({o.attempt.webhook_id for o in outcomes if o.deactivate_reason})
        if gone:
            result = await conn.execute(
                webhooks.update()
                .where(webhooks.c.id.in_(gone), webhooks.c.is_active.is_(True))
                .values(is_active=False, disabled_reason=GONE_REASON, disabled_at=now)
                .returning(webhooks.c.id)
            )
            disabled += list(result.scalars())
        failing = (
            await conn.execute(
                sa.select(webhooks.c.id, webhooks.c.failing_since).where(
                    webhooks.c.id.in_(list(webhook_ids)),
                    webhooks.c.is_active.is_(True),
                    webhooks.c.failing_since.is_not(None),
                    webhooks.c.failing_since <= failing_since,
                )
            )
        ).all()
        for row in failing:
            await conn.execute(
                webhooks.update()
                .where(webhooks.c.id == row.id)
                .values(
                    is_active=False,
                    disabled_reason=failing_reason(row.failing_since),
                    disabled_at=now,
                )
            )
            disabled.append(row.id)
        await set_deliveries_paused(conn, disabled, paused=True)
        return disabled

    async def release(self, delivery_ids: Sequence[str], *, worker_id: str) -> None:
        if not delivery_ids:
            return
        async with self._write() as conn:
            await conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.leased_by == worker_id)
                .values(lease_until=None, leased_by=None)
            )
            await self._notify(conn)

    async def next_due_at(self) -> datetime | None:
        """When the next delivery becomes claimable: its due time, or its lease's end."""
        claimable_at = sa.case(
            (deliveries.c.lease_until.is_(None), deliveries.c.next_attempt_at),
            (deliveries.c.lease_until > deliveries.c.next_attempt_at, deliveries.c.lease_until),
            else_=deliveries.c.next_attempt_at,
        )
        async with self._read() as conn:
            value = await conn.scalar(
                sa.select(sa.func.min(sa.type_coerce(claimable_at, UTCDateTime()))).where(
                    deliveries.c.status == DeliveryStatus.PENDING.value
                )
            )
        return value if isinstance(value, datetime) or value is None else None

    async def purge(self, *, completed_before: datetime, idempotency_before: datetime) -> int:
        removed = 0
        while True:
            async with self._write() as conn:
                chunk = (
                    sa.select(deliveries.c.id)
                    .where(
                        deliveries.c.completed_at.is_not(None),
                        deliveries.c.completed_at < completed_before,
                    )
                    .limit(_PURGE_CHUNK)
                )
                count = (
                    await conn.execute(deliveries.delete().where(deliveries.c.id.in_(chunk)))
                ).rowcount
            removed += count
            if count < _PURGE_CHUNK:
                break
        async with self._write() as conn:
            orphaned = (
                sa.select(events.c.id)
                .where(
                    events.c.created_at < completed_before,
                    ~sa.exists().where(deliveries.c.event_id == events.c.id),
                )
                .limit(_PURGE_CHUNK * 4)
            )
            await conn.execute(events.delete().where(events.c.id.in_(orphaned)))
            await conn.execute(
                idempotency_keys.delete().where(idempotency_keys.c.created_at < idempotency_before)
            )
        return removed

    # -- reading and re-queueing -------------------------------------------------------------
    async def get_event(self, team_id: str, event_id: str) -> Event | None:
        async with self._read() as conn:
            return await _get_event(conn, team_id, event_id)

    async def get_delivery(self, team_id: str, delivery_id: str) -> Delivery | None:
        async with self._read() as conn:
            return await _get_delivery(conn, team_id, delivery_id)

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
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        items = [_delivery_from_row(r) for r in rows]
        return Page(items=items[: page.limit], has_more=len(items) > page.limit)

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        async with self._read() as conn:
            rows = await conn.execute(
                sa.select(delivery_attempts)
                .where(delivery_attempts.c.delivery_id == delivery_id)
                .order_by(delivery_attempts.c.attempt, delivery_attempts.c.id)
            )
            return [_attempt_from_row(r) for r in rows]

    async def requeue(self, team_id: str, delivery_id: str, now: datetime) -> Delivery | None:
        async with self._write() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(deliveries.c.team_id == team_id, deliveries.c.id == delivery_id)
                .values(**_requeue_values(now))
            )
            if result.rowcount == 0:
                return None
            await self._notify(conn)
            return await _get_delivery(conn, team_id, delivery_id)

    async def recover(
        self, team_id: str, webhook_id: str, *, since: datetime, now: datetime
    ) -> int:
        async with self._write() as conn:
            result = await conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.team_id == team_id,
                    deliveries.c.webhook_id == webhook_id,
                    deliveries.c.status == DeliveryStatus.FAILED.value,
                    deliveries.c.created_at >= since,
                )
                .values(**_requeue_values(now))
            )
            if result.rowcount:
                await self._notify(conn)
            return int(result.rowcount)


# -- statements and row mapping --------------------------------------------------------------


def _claimed_rows(ids: Any) -> sa.Select[Any]:
    return (
        sa.select(
            deliveries.c.id,
            deliveries.c.team_id,
            deliveries.c.event_id,
            deliveries.c.event_type,
            deliveries.c.webhook_id,
            deliveries.c.attempts,
            deliveries.c.retry_index,
            events.c.payload,
            events.c.request_id,
            webhooks.c.url,
            webhooks.c.is_active,
            webhooks.c.secret_ciphertext,
            webhooks.c.previous_secret_ciphertext,
            webhooks.c.previous_secret_expires_at,
        )
        .join(events, events.c.id == deliveries.c.event_id)
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(deliveries.c.id.in_(ids))
    )


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


_RECORD_DELIVERY = (
    deliveries.update()
    .where(
        deliveries.c.id == sa.bindparam("b_id"),
        deliveries.c.leased_by == sa.bindparam("b_worker"),
    )
    .values(
        status=sa.bindparam("b_status"),
        attempts=sa.bindparam("b_attempts"),
        retry_index=sa.bindparam("b_retry_index"),
        next_attempt_at=sa.bindparam("b_next", type_=UTCDateTime()),
        lease_until=None,
        leased_by=None,
        last_status_code=sa.bindparam("b_code", type_=sa.Integer()),
        last_error=sa.bindparam("b_error", type_=sa.Text()),
        updated_at=sa.bindparam("b_now", type_=UTCDateTime()),
        completed_at=sa.bindparam("b_completed", type_=UTCDateTime()),
    )
)


def _record_values(outcome: AttemptOutcome, worker_id: str) -> dict[str, Any]:
    attempt = outcome.attempt
    finished = outcome.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)
    return {
        "b_id": attempt.delivery_id,
        "b_worker": worker_id,
        "b_status": outcome.status.value,
        "b_attempts": attempt.attempt,
        "b_retry_index": outcome.retry_index,
        "b_next": outcome.next_attempt_at,
        "b_code": attempt.status_code,
        "b_error": attempt.error,
        "b_now": attempt.started_at,
        "b_completed": attempt.started_at if finished else None,
    }


_RESET = sa.bindparam("h_reset", type_=sa.Boolean())
_RECORD_HEALTH = (
    webhooks.update()
    .where(webhooks.c.id == sa.bindparam("h_id"))
    .values(
        consecutive_failures=sa.case(
            (_RESET, sa.bindparam("h_after", type_=sa.Integer())),
            else_=webhooks.c.consecutive_failures + sa.bindparam("h_failures", type_=sa.Integer()),
        ),
        failing_since=sa.case(
            (_RESET, sa.bindparam("h_since", type_=UTCDateTime())),
            else_=sa.func.coalesce(
                webhooks.c.failing_since, sa.bindparam("h_first", type_=UTCDateTime())
            ),
        ),
        last_delivery_at=sa.bindparam("h_last_at", type_=UTCDateTime()),
        last_delivery_status=sa.bindparam("h_last_status", type_=sa.Integer()),
        last_delivery_success=sa.bindparam("h_last_ok", type_=sa.Boolean()),
    )
)


def _health_rows(outcomes: Sequence[AttemptOutcome]) -> list[dict[str, Any]]:
    """Fold a batch's attempts per webhook, in time order, into one health update each."""
    by_webhook: dict[str, list[Attempt]] = defaultdict(list)
    for outcome in outcomes:
        by_webhook[outcome.attempt.webhook_id].append(outcome.attempt)
    rows = []
    for webhook_id, attempts in sorted(by_webhook.items()):
        attempts.sort(key=lambda a: a.started_at)
        last_success = max((i for i, a in enumerate(attempts) if a.success), default=None)
        after = attempts[last_success + 1 :] if last_success is not None else attempts
        last = attempts[-1]
        rows.append(
            {
                "h_id": webhook_id,
                "h_reset": last_success is not None,
                "h_after": len(after),
                "h_failures": len(attempts),
                "h_since": after[0].started_at if after and last_success is not None else None,
                "h_first": attempts[0].started_at,
                "h_last_at": last.started_at,
                "h_last_status": last.status_code,
                "h_last_ok": last.success,
            }
        )
    return rows


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


async def _get_event(conn: AsyncConnection, team_id: str, event_id: str) -> Event | None:
    row = (
        await conn.execute(
            sa.select(events).where(events.c.team_id == team_id, events.c.id == event_id)
        )
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


async def _get_delivery(conn: AsyncConnection, team_id: str, delivery_id: str) -> Delivery | None:
    row = (
        await conn.execute(
            sa.select(deliveries).where(
                deliveries.c.team_id == team_id, deliveries.c.id == delivery_id
            )
        )
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
