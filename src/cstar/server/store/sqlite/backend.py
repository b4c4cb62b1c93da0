"""SQLite's backend: its hot statements (``queries.sql``) and its dispatch cycle.

The statements run on the driver connection under SQLAlchemy's, in the same transaction:
``executemany`` loops in C over prepared tuples, and the cycle runs inline on the event loop
(see ``SqliteDatabase.write_short``). Writers are serialised (``BEGIN IMMEDIATE``, one writer
thread), so nothing changes between a claim's choice and its lease, and the processes share no
channel: there is nobody to notify.

Measured on the target machine, per 128 deliveries: ``executemany`` inserts attempts in 0.3 ms
where moving the rows as one JSON array (``json_each``) takes 1.0 to 1.4 ms; the claim's
ranking window costs 0.5 ms at twice the limit and 0.8 ms at four times.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import DeliveryStatus, Event
from cstar.server.store.backend import (
    FINISHED,
    GONE_REASON,
    Backend,
    Publish,
    claim_scan,
    claimed_from,
    failing_reason,
    health_rows,
    pace_rooms,
    pick_within_rooms,
    stats_rows,
)
from cstar.server.store.contract import AttemptOutcome, ClaimedDelivery, ClaimRequest, CycleResult
from cstar.server.store.queries import load
from cstar.server.store.schema import deliveries, idempotency_keys, meta, webhooks
from cstar.server.store.sql import set_deliveries_paused

_SQL = load("cstar.server.store.sqlite")


def sqlite_time(moment: datetime | None) -> str | None:
    """The text SQLAlchemy stores for a UTC datetime on SQLite (sorts as time does)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _raw(conn: Connection) -> sqlite3.Connection:
    """The driver connection under SQLAlchemy's, inside the same transaction."""
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


class SqliteBackend(Backend):
    # Publishes without a key go to the writer thread as one job per group: measured in-process
    # (bench/README.md, ingestion), ~380 -> ~270 us of CPU per publish against a savepoint per
    # publish. Keyed ones stay one job each: the writer's serialised transactions settle their
    # replays.
    groups_publishes = True
    single_writer = True

    # -- publishing --------------------------------------------------------------------------
    def insert_events(self, conn: Connection, events: Sequence[Event]) -> None:
        _raw(conn).executemany(
            _SQL.insert_event,
            [
                (
                    e.id,
                    e.team_id,
                    e.type,
                    e.payload,
                    e.request_id,
                    e.is_test,
                    sqlite_time(e.created_at),
                )
                for e in events
            ],
        )

    def fan_out(self, conn: Connection, items: Sequence[Publish]) -> list[list[tuple[str, str]]]:
        raw = _raw(conn)
        queued = []
        for event, (exact, resource, everything), now in items:
            rows = raw.execute(
                _SQL.fan_out,
                (
                    event.team_id,
                    event.id,
                    event.type,
                    sqlite_time(now),
                    exact,
                    resource,
                    everything,
                ),
            ).fetchall()
            queued.append([(row[0], row[1]) for row in rows])
        return queued

    def notify(self, conn: Connection, *, deliveries: bool) -> None:
        """Nothing: the dispatcher and the streams poll SQLite."""

    def wake_workers(self, conn: Connection) -> None:
        """Nothing: the dispatcher polls SQLite."""

    def claim_key(self, conn: Connection, event: Event, key: str, since: datetime) -> None:
        # Writers are serialised (BEGIN IMMEDIATE): the replay check before this already saw
        # any fresh key, so whatever is left is stale.
        conn.execute(
            idempotency_keys.delete().where(
                idempotency_keys.c.team_id == event.team_id, idempotency_keys.c.key == key
            )
        )
        conn.execute(
            idempotency_keys.insert().values(
                team_id=event.team_id, key=key, event_id=event.id, created_at=event.created_at
            )
        )

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
        def work(conn: Connection) -> CycleResult:
            fresh = self._ours(conn, outcomes, worker_id)
            disabled = self._record(conn, fresh, worker_id, now, disable_failing_since)
            claimed = self._claim(conn, claim) if claim is not None and claim.limit > 0 else []
            return CycleResult(
                claimed, disabled, self.next_due(conn, now), stale=len(outcomes) - len(fresh)
            )

        # Only a cycle that records attempts must reach the disk before it returns.
        return await self._db.write_short(work, durable=bool(outcomes))

    def next_due(self, conn: Connection, now: datetime) -> datetime | None:
        row = _raw(conn).execute(_SQL.next_due, (sqlite_time(now),)).fetchone()
        return sqlite_parse(row[0]) if row else None

    def _ours(
        self, conn: Connection, outcomes: Sequence[AttemptOutcome], worker_id: str
    ) -> list[AttemptOutcome]:
        """The outcomes that may be recorded: their delivery is still leased to this worker at
        the attempt before. The others were recorded already, or their lease passed on."""
        if not outcomes:
            return []
        ids = orjson.dumps([o.attempt.delivery_id for o in outcomes]).decode()
        held = dict(_raw(conn).execute(_SQL.ours, (worker_id, ids)).fetchall())
        return [o for o in outcomes if held.get(o.attempt.delivery_id) == o.attempt.attempt - 1]

    # -- management and request logs (cold paths) -------------------------------------------
    def insert_meta(self, conn: Connection, key: str, value: str) -> bool:
        inserted = conn.execute(
            sqlite.insert(meta)
            .values(key=key, value=value)
            .on_conflict_do_nothing()
            .returning(meta.c.key)
        ).first()
        return inserted is not None

    def lock_team(self, conn: Connection, team_id: str) -> None:
        """Nothing: SQLite's writer transactions never overlap."""

    def lock_request_log_inserts(self, conn: Connection) -> None:
        """Nothing: SQLite's writer transactions never overlap."""

    # -- claiming ----------------------------------------------------------------------------
    def _claim(self, conn: Connection, request: ClaimRequest) -> list[ClaimedDelivery]:
        """The oldest due deliveries (a bounded window of them), ranked per webhook, so one claim
        takes at most each webhook's remaining room: a backlog for one endpoint can neither
        exceed its concurrency cap nor crowd the others out of a claim.
        """
        claimed = self._lease(conn, request)
        inactive = [c.delivery_id for c, active in claimed if not active]
        if inactive:  # deactivated between fan-out and claim: wait for re-activation
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(inactive))
                .values(status=DeliveryStatus.PAUSED.value, lease_until=None, leased_by=None)
            )
        return [c for c, active in claimed if active]

    def _lease(self, conn: Connection, request: ClaimRequest) -> list[tuple[ClaimedDelivery, bool]]:
        """The oldest due deliveries, at most each webhook's room (``per_webhook`` less what
        ``busy`` says this worker holds, and for a rate-limited webhook no more than its slots
        until ``pace_ahead``): from the window when it has them, else per webhook, skipping the
        webhooks without room. FIFO webhooks' next deliveries fall due first. Run inside the
        writer's transaction, so nothing changes between the choice and the lease."""
        raw = _raw(conn)
        now, limit, per_webhook = request.now, request.limit, request.per_webhook
        lease_until = request.lease_until
        at = sqlite_time(now)
        raw.execute(_SQL.promote_fifo, (at,))
        rooms = {w: per_webhook - n for w, n in request.busy.items()}
        pacing = raw.execute(_SQL.pacing).fetchall()
        rates: dict[str, tuple[int, datetime | None]] = {
            w: (rate, sqlite_parse(next_at)) for w, rate, next_at, _fifo in pacing
        }
        paced = pace_rooms(
            ((w, rate, next_at) for w, (rate, next_at) in rates.items()),
            now=request.slots_from,
            until=request.slots_until,
        )
        fifo = {w for w, _rate, _next_at, is_fifo in pacing if is_fifo}
        for webhook_id, room in paced.items():
            rooms[webhook_id] = min(rooms.get(webhook_id, per_webhook), room)
            if room > 0 and webhook_id not in fifo:
                # Its deliveries wait with no due time: as many fall due as it has slots.
                due = raw.execute(_SQL.due_count, (webhook_id, at)).fetchone()[0]
                if room > due:
                    raw.execute(_SQL.promote_waiting, (webhook_id, at, room - due))
        scan = claim_scan(limit)
        window = raw.execute(_SQL.claim_window, (at, scan)).fetchall()
        ids = pick_within_rooms(window, rooms, per_webhook, limit)
        if len(ids) < limit and len(window) >= scan:
            ids = self._claim_per_webhook(raw, at, rooms, per_webhook, limit)
        if not ids:
            return []
        leased = raw.execute(
            _SQL.lease, (sqlite_time(lease_until), request.worker_id, orjson.dumps(ids).decode())
        ).fetchall()
        cursor = raw.cursor()
        cursor.row_factory = sqlite3.Row
        rows = cursor.execute(
            _SQL.claimed, (orjson.dumps([r[0] for r in leased]).decode(),)
        ).fetchall()
        slots = self._pace(raw, rows, ids, rates, request.slots_from) if rates else {}
        return [
            (
                claimed_from(
                    r,
                    lease_until,
                    sqlite_parse(r["previous_secret_expires_at"]),
                    slots.get(r["id"]),
                ),
                bool(r["is_active"]),
            )
            for r in rows
        ]

    def _pace(
        self,
        raw: sqlite3.Connection,
        rows: Sequence[sqlite3.Row],
        order: Sequence[str],
        rates: Mapping[str, tuple[int, datetime | None]],
        now: datetime,
    ) -> dict[str, datetime]:
        """Give each claimed delivery of a rate-limited webhook its slot, in due order, and
        move the webhook's next free moment past the last one."""
        hooks = {r["id"]: r["webhook_id"] for r in rows if r["webhook_id"] in rates}
        slots: dict[str, datetime] = {}
        after: dict[str, datetime] = {}
        for delivery_id in order:
            webhook_id = hooks.get(delivery_id)
            if webhook_id is None:
                continue
            rate, next_at = rates[webhook_id]
            moment = after.get(webhook_id) or max(next_at or now, now)
            slots[delivery_id] = moment
            after[webhook_id] = moment + timedelta(seconds=1 / rate)
        raw.executemany(_SQL.set_pacing, [(w, sqlite_time(t)) for w, t in after.items()])
        return slots

    def _claim_per_webhook(
        self,
        raw: sqlite3.Connection,
        at: str | None,
        rooms: Mapping[str, int],
        per_webhook: int,
        limit: int,
    ) -> list[str]:
        """Due deliveries of the webhooks with room, earliest webhooks first."""
        hooks = sorted(
            (head, webhook_id)
            for webhook_id, head in raw.execute(_SQL.pending_webhooks).fetchall()
            if at is not None and head is not None and head <= at
        )
        due: list[tuple[str, str]] = []
        for _head, webhook_id in hooks:
            room = rooms.get(webhook_id, per_webhook)
            if room <= 0:
                continue
            due += raw.execute(_SQL.webhook_due, (webhook_id, at, room)).fetchall()
            if len(due) >= limit:
                break
        due.sort()
        return [delivery_id for _at, delivery_id in due[:limit]]

    # -- recording ---------------------------------------------------------------------------
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
        self._write_outcomes(conn, outcomes, worker_id)
        return self._after_record(conn, outcomes, now, disable_failing_since)

    def _write_outcomes(
        self, conn: Connection, outcomes: Sequence[AttemptOutcome], worker_id: str
    ) -> None:
        raw = _raw(conn)
        raw.executemany(
            _SQL.record_health,
            [
                (
                    w,
                    reset,
                    after,
                    failures,
                    sqlite_time(since),
                    sqlite_time(first),
                    sqlite_time(last_at),
                    status,
                    ok,
                )
                for w, reset, after, failures, since, first, last_at, status, ok in health_rows(
                    outcomes
                )
            ],
        )
        attempts = []
        updates = []
        for outcome in outcomes:
            a = outcome.attempt
            started = sqlite_time(a.started_at)
            attempts.append(
                (
                    a.delivery_id,
                    a.webhook_id,
                    a.attempt,
                    started,
                    a.duration_ms,
                    a.status_code,
                    a.success,
                    a.error,
                    a.url,
                    orjson.dumps(a.request_headers).decode(),
                    a.response_body,
                )
            )
            updates.append(
                (
                    outcome.status.value,
                    a.attempt,
                    outcome.retry_index,
                    sqlite_time(outcome.next_attempt_at),
                    a.status_code,
                    a.error,
                    started,
                    started if outcome.status in FINISHED else None,
                    a.delivery_id,
                    worker_id,
                )
            )
        raw.executemany(_SQL.insert_attempts, attempts)
        raw.executemany(_SQL.update_deliveries, updates)
        raw.executemany(
            _SQL.add_stats,
            [(w, sqlite_time(hour), *counts) for w, hour, *counts in stats_rows(outcomes)],
        )

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
