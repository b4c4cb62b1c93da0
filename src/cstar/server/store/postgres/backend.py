"""PostgreSQL's backend: its hot statements (``queries.sql``) and its dispatch cycle.

The statements run through asyncpg with ``$N`` placeholders, lists as arrays, one statement
however many rows. The cycle is one call of the ``cstar_cycle`` function (created by the
migrations, written out in ``functions.sql``): recording over ``unnest(...)`` arrays and a claim
that locks with ``FOR UPDATE SKIP LOCKED``, in one round trip. Publishes share transactions
(``groups_publishes``, ``groups_keyed_publishes``: the store batches them; keyed ones claim
their keys together, ``claim_new_keys``), and whoever listens hears of new events and
deliveries through ``NOTIFY`` when they commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import Event
from cstar.server.domain.stats import LATENCY_BUCKETS
from cstar.server.store.backend import (
    FINISHED,
    GONE_REASON,
    Backend,
    KeyedPublish,
    KeyTaken,
    Publish,
    claim_scan,
    claimed_from,
    health_rows,
    stats_rows,
)
from cstar.server.store.channels import DELIVERIES_CHANNEL, EVENTS_CHANNEL
from cstar.server.store.contract import (
    AttemptOutcome,
    ClaimedDelivery,
    ClaimRequest,
    CycleResult,
    StoreError,
)
from cstar.server.store.database import PostgresDatabase
from cstar.server.store.queries import load
from cstar.server.store.schema import idempotency_keys, meta, teams

_SQL = load("cstar.server.store.postgres")
log = logging.getLogger(__name__)

#: The attempts' day partitions are made this many days ahead of today.
PARTITION_DAYS_AHEAD = 2
#: How long dropping a day of attempts waits for the table's lock before leaving it to the next
#: purge: everyone else waits behind a drop that waits.
PARTITION_LOCK_WAIT = "100ms"

#: Built from the channel names, which only ``store/channels.py`` spells.
NOTIFY_EVENTS = f"SELECT pg_notify('{EVENTS_CHANNEL}', '')"
NOTIFY_DELIVERIES = f"SELECT pg_notify('{DELIVERIES_CHANNEL}', '')"
NOTIFY_BOTH = f"{NOTIFY_EVENTS}, pg_notify('{DELIVERIES_CHANNEL}', '')"

#: The advisory lock (transaction-scoped) held while a batch of request log entries is
#: inserted: several API processes write at once.
REQUEST_LOG_INSERT_LOCK = 0x6353524C  # "cSRL"

#: A cycle whose outcomes keep turning stale (leases changing under it) gives up after this.
_STALE_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class PgCycle:
    """What one call of ``cstar_cycle`` answered."""

    claimed: list[ClaimedDelivery]
    disabled: list[str]
    #: Deliveries whose outcome was not ours to record; nothing was written when this is set.
    stale: set[str]
    next_due: datetime | None


class PostgresBackend(Backend):
    groups_publishes = True
    groups_keyed_publishes = True

    def __init__(self, database: PostgresDatabase) -> None:
        super().__init__(database)
        self._pg_db = database

    # -- publishing --------------------------------------------------------------------------
    def insert_events(self, conn: Connection, events: Sequence[Event]) -> None:
        conn.exec_driver_sql(
            _SQL.insert_events,
            (
                [e.id for e in events],
                [e.team_id for e in events],
                [e.type for e in events],
                [e.payload for e in events],
                [e.request_id for e in events],
                [e.is_test for e in events],
                [e.created_at for e in events],
            ),
        )

    def fan_out(self, conn: Connection, items: Sequence[Publish]) -> list[list[tuple[str, str]]]:
        queued: dict[str, list[tuple[str, str]]] = {event.id: [] for event, _, _ in items}
        rows = conn.exec_driver_sql(
            _SQL.fan_out,
            (
                [event.id for event, _, _ in items],
                [event.team_id for event, _, _ in items],
                [event.type for event, _, _ in items],
                [now for _, _, now in items],
                [patterns[0] for _, patterns, _ in items],
                [patterns[1] for _, patterns, _ in items],
                [patterns[2] for _, patterns, _ in items],
            ),
        ).all()
        for event_id, delivery_id, webhook_id in rows:
            queued[event_id].append((delivery_id, webhook_id))
        return [queued[event.id] for event, _, _ in items]

    def notify(self, conn: Connection, *, deliveries: bool) -> None:
        conn.exec_driver_sql(NOTIFY_BOTH if deliveries else NOTIFY_EVENTS)

    def wake_workers(self, conn: Connection) -> None:
        conn.exec_driver_sql(NOTIFY_DELIVERIES)

    def claim_new_keys(self, conn: Connection, items: Sequence[KeyedPublish]) -> bool:
        fresh = conn.exec_driver_sql(
            _SQL.fresh_keys,
            (
                [event.team_id for event, *_ in items],
                [key for *_, key, _since in items],
                [since for *_, since in items],
            ),
        ).scalar()
        if fresh:
            return False
        claimed = conn.exec_driver_sql(
            _SQL.claim_keys,
            (
                [event.team_id for event, *_ in items],
                [key for *_, key, _since in items],
                [event.id for event, *_ in items],
                [event.created_at for event, *_ in items],
                # The earliest window start: a key between it and an item's own start is left
                # alone here, and that item's publish alone takes it over.
                min(since for *_, since in items),
            ),
        ).all()
        return len(claimed) == len(items)

    def claim_key(self, conn: Connection, event: Event, key: str, since: datetime) -> None:
        stmt = (
            postgresql.insert(idempotency_keys)
            .values(team_id=event.team_id, key=key, event_id=event.id, created_at=event.created_at)
            .on_conflict_do_update(
                index_elements=["team_id", "key"],
                set_={"event_id": event.id, "created_at": event.created_at},
                where=idempotency_keys.c.created_at < since,
            )
            .returning(idempotency_keys.c.key)
        )
        if conn.execute(stmt).first() is None:
            raise KeyTaken

    # -- management and request logs (cold paths) -------------------------------------------
    def insert_meta(self, conn: Connection, key: str, value: str) -> bool:
        inserted = conn.execute(
            postgresql.insert(meta)
            .values(key=key, value=value)
            .on_conflict_do_nothing()
            .returning(meta.c.key)
        ).first()
        return inserted is not None

    def lock_team(self, conn: Connection, team_id: str) -> None:
        """A lock of the team's row."""
        conn.execute(sa.select(teams.c.id).where(teams.c.id == team_id).with_for_update())

    def lock_request_log_inserts(self, conn: Connection) -> None:
        conn.exec_driver_sql(_SQL.lock_request_log_inserts, (REQUEST_LOG_INSERT_LOCK,))

    # -- history -----------------------------------------------------------------------------
    async def add_partitions(self, today: date) -> None:
        last = today + timedelta(days=PARTITION_DAYS_AHEAD)
        await self._pg_db.fetch_direct(_SQL.add_partitions, (today, last))

    async def drop_partitions(self, before: datetime) -> int:
        rows = await self._pg_db.fetch_direct(_SQL.expired_partition_days, (before,))
        dropped = 0
        for row in rows:
            try:
                answer = await self._pg_db.fetch_direct(
                    _SQL.drop_partition, (row["day"], PARTITION_LOCK_WAIT)
                )
            except StoreError as exc:
                if not isinstance(exc.__cause__, asyncpg.exceptions.LockNotAvailableError):
                    raise
                log.info("the attempts of %s were busy: dropped at the next purge", row["day"])
                continue
            dropped += bool(answer[0][0])
        return dropped

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
            rows = await self._pg_db.fetch_direct(
                _SQL.cycle,
                _cycle_params(
                    pending,
                    worker_id=worker_id,
                    now=now,
                    claim=request,
                    gone_reason=GONE_REASON,
                    disable_before=disable_failing_since,
                ),
            )
            answer = _cycle_answer(rows, request)
            if not answer.stale:
                return CycleResult(
                    answer.claimed,
                    answer.disabled,
                    answer.next_due,
                    stale=len(outcomes) - len(pending),
                )
            pending = [o for o in pending if o.attempt.delivery_id not in answer.stale]
        raise StoreError("the dispatcher's leases kept changing during one cycle")

    def next_due(self, conn: Connection, now: datetime) -> datetime | None:
        value = conn.exec_driver_sql(_SQL.next_due, (now,)).scalar()
        return value if isinstance(value, datetime) else None


def _cycle_params(
    outcomes: Sequence[AttemptOutcome],
    *,
    worker_id: str,
    now: datetime,
    claim: ClaimRequest | None,
    gone_reason: str,
    disable_before: datetime,
) -> tuple[Any, ...]:
    """The arguments of one ``cstar_cycle`` call (``functions.sql``): record and claim in one
    round trip, one transaction."""
    health = health_rows(outcomes)
    h = [list(c) for c in zip(*health, strict=True)] if health else [[] for _ in range(9)]
    stats = stats_rows(outcomes)
    s = (
        [list(c) for c in zip(*stats, strict=True)]
        if stats
        else [[] for _ in range(5 + LATENCY_BUCKETS)]
    )
    attempts = [o.attempt for o in outcomes]
    busy = dict(claim.busy) if claim is not None else {}
    return (
        worker_id,
        now,
        *h,
        [a.delivery_id for a in attempts],
        [a.webhook_id for a in attempts],
        [a.attempt for a in attempts],
        [a.started_at for a in attempts],
        [a.duration_ms for a in attempts],
        [a.status_code for a in attempts],
        [a.success for a in attempts],
        [a.error for a in attempts],
        [a.url for a in attempts],
        [orjson.dumps(a.request_headers).decode() for a in attempts],
        [a.response_body for a in attempts],
        *s,
        [o.status.value for o in outcomes],
        [o.retry_index for o in outcomes],
        [o.next_attempt_at for o in outcomes],
        [o.attempt.started_at if o.status in FINISHED else None for o in outcomes],
        sorted({o.attempt.webhook_id for o in outcomes if o.deactivate_reason}),
        gone_reason,
        disable_before,
        claim.limit if claim is not None else 0,
        claim.lease_until if claim is not None else None,
        list(busy),
        [claim.per_webhook - busy[w] for w in busy] if claim is not None else [],
        claim_scan(claim.limit) if claim is not None else 0,
        claim.per_webhook if claim is not None else 0,
        not outcomes,
        claim.slots_from if claim is not None else None,
        claim.slots_until if claim is not None else None,
    )


def _cycle_answer(rows: Sequence[Any], claim: ClaimRequest | None) -> PgCycle:
    """What ``cstar_cycle`` answered, row by row (by column name)."""
    claimed: list[ClaimedDelivery] = []
    disabled: list[str] = []
    stale: set[str] = set()
    next_due: datetime | None = None
    for row in rows:
        kind = row["kind"]
        if kind == "claimed" and claim is not None:
            claimed.append(
                claimed_from(
                    row, claim.lease_until, row["previous_secret_expires_at"], row["send_at"]
                )
            )
        elif kind == "disabled":
            disabled.append(row["webhook_id"])
        elif kind == "stale":
            stale.add(row["id"])
        elif kind == "next_due":
            next_due = row["next_due"]
    return PgCycle(claimed, disabled, stale, next_due)
