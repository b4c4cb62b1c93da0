"""The hot statements, in each database's own SQL: publish, the dispatcher's cycle, next due.

Everything else in the store is SQLAlchemy Core. These run thousands of times a second, and
measured per delivery SQLAlchemy's statement and row processing cost more than the HTTP request
itself (see ``bench/README.md``). So they are plain SQL run through the driver:

* SQLite: ``executemany`` loops in C over prepared tuples, the cycle inline on the event loop
  (see ``SqliteDatabase.write_short``);
* PostgreSQL: the cycle is one call of the ``cstar_cycle`` function (created by the
  migrations, written out in ``store/postgres/functions.sql``): recording over ``unnest(...)``
  arrays and a claim that locks with ``FOR UPDATE SKIP LOCKED``, in one round trip however
  many rows.

Recording adds each batch to ``delivery_stats`` too (attempts per webhook and UTC hour, by
outcome and latency bucket): summed here first, one upsert per cycle, in the same transaction.

They read and write the same columns, in the same formats, as the SQLAlchemy layer; the
contract and delivery suites run every path on both databases.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import Attempt, DeliveryStatus, Event
from cstar.server.domain.stats import LATENCY_BUCKETS, hour_of, latency_bucket
from cstar.server.store.channels import DELIVERIES_CHANNEL, EVENTS_CHANNEL
from cstar.server.store.contract import AttemptOutcome, ClaimedDelivery, ClaimRequest
from cstar.server.store.queries import load

_SQLITE = load("cstar.server.store.sqlite")
_POSTGRES = load("cstar.server.store.postgres")

#: A claim chooses from this many times ``limit`` of the oldest due deliveries (the window);
#: when the window is full of deliveries for endpoints without room, it looks per endpoint.
CLAIM_SCAN_FACTOR = 2
_FINISHED = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)


def sqlite_time(moment: datetime | None) -> str | None:
    """The text SQLAlchemy stores for a UTC datetime on SQLite (sorts as time does)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class _ByName(Protocol):
    """A row read by column name: ``sqlite3.Row`` or SQLAlchemy's ``RowMapping``."""

    def __getitem__(self, name: str, /) -> Any: ...


def claimed_from(
    row: _ByName, lease_until: datetime, previous_expires_at: datetime | None
) -> ClaimedDelivery:
    """A claimed delivery from a row of either backend's claim, read by column name (both
    select the columns of ``ClaimedDelivery`` under its own names)."""
    return ClaimedDelivery(
        delivery_id=row["id"],
        team_id=row["team_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        webhook_id=row["webhook_id"],
        attempts=row["attempts"],
        retry_index=row["retry_index"],
        payload=row["payload"],
        request_id=row["request_id"],
        url=row["url"],
        secret_ciphertext=row["secret_ciphertext"],
        previous_secret_ciphertext=row["previous_secret_ciphertext"],
        previous_secret_expires_at=previous_expires_at,
        lease_until=lease_until,
    )


def claim_scan(limit: int) -> int:
    """The claim window's size for a claim of ``limit``."""
    return max(limit * CLAIM_SCAN_FACTOR, 100)


def pick_within_rooms(
    due: Iterable[tuple[str, str]], rooms: Mapping[str, int], default_room: int, limit: int
) -> list[str]:
    """From ``(delivery_id, webhook_id)`` in due order, the first ``limit`` that fit in their
    webhook's room (``rooms``, else ``default_room``)."""
    taken: Counter[str] = Counter()
    picked: list[str] = []
    for delivery_id, webhook_id in due:
        if taken[webhook_id] < rooms.get(webhook_id, default_room):
            taken[webhook_id] += 1
            picked.append(delivery_id)
            if len(picked) == limit:
                break
    return picked


def health_rows(outcomes: Sequence[AttemptOutcome]) -> list[tuple[Any, ...]]:
    """Fold a batch's attempts per webhook, in time order, into one health update each,
    sorted by webhook id (the lock order).

    ``(webhook_id, reset, failures_after_last_success, failures, failing_since_after_reset,
    first_failure, last_at, last_status, last_ok)``
    """
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
            (
                webhook_id,
                last_success is not None,
                len(after),
                len(attempts),
                after[0].started_at if after and last_success is not None else None,
                attempts[0].started_at,
                last.started_at,
                last.status_code,
                last.success,
            )
        )
    return rows


def stats_rows(outcomes: Sequence[AttemptOutcome]) -> list[tuple[Any, ...]]:
    """A batch's attempts summed per webhook and UTC hour of their start, sorted by (webhook,
    hour): the lock order, after the webhook rows.

    ``(webhook_id, hour, succeeded, retrying, failed, *latency)``, the latency counts in the
    order of ``LATENCY_BOUNDS_MS`` then "above"; ``retrying`` is a failure whose delivery
    will be tried again, ``failed`` one after which it failed for good.
    """
    sums: dict[tuple[str, datetime], list[int]] = {}
    for outcome in outcomes:
        attempt = outcome.attempt
        key = (attempt.webhook_id, hour_of(attempt.started_at))
        counts = sums.get(key)
        if counts is None:
            counts = sums[key] = [0] * (3 + LATENCY_BUCKETS)
        if attempt.success:
            counts[0] += 1
        elif outcome.status is DeliveryStatus.FAILED:
            counts[2] += 1
        else:
            counts[1] += 1
        counts[3 + latency_bucket(attempt.duration_ms)] += 1
    return [(webhook_id, hour, *counts) for (webhook_id, hour), counts in sorted(sums.items())]


def _sqlite(conn: Connection) -> sqlite3.Connection:
    """The driver connection under SQLAlchemy's, inside the same transaction."""
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


#: An event to publish, the subscription patterns it matches (exact, resource wildcard, ``*``),
#: and the moment its deliveries are queued.
Publish = tuple[Event, Sequence[str], datetime]


class HotPath:
    """What both backends' hot paths do the same way: publishing is inserting the events, then
    their fan-out, then waking whoever waits for them, in the caller's transaction."""

    def insert_events(self, conn: Connection, events: Sequence[Event]) -> None:
        raise NotImplementedError

    def fan_out(self, conn: Connection, items: Sequence[Publish]) -> list[list[tuple[str, str]]]:
        """One delivery per event and active subscribed webhook: each event's
        (delivery id, webhook id)."""
        raise NotImplementedError

    def notify(self, conn: Connection, *, deliveries: bool) -> None:
        """Tell the other processes, when this commits, of new events (and new deliveries)."""

    def publish_many(
        self, conn: Connection, items: Sequence[Publish]
    ) -> list[list[tuple[str, str]]]:
        self.insert_events(conn, [event for event, _, _ in items])
        queued = self.fan_out(conn, items)
        self.notify(conn, deliveries=any(queued))
        return queued


class SqliteHotPath(HotPath):
    """Statements for SQLite, run inline on the event loop by the dispatcher's cycle.

    Measured on the target machine, per 128 deliveries: ``executemany`` inserts attempts in
    0.3 ms where moving the rows as one JSON array (``json_each``) takes 1.0 to 1.4 ms; the
    claim's ranking window costs 0.5 ms at twice the limit and 0.8 ms at four times.
    """

    _WINDOW = _SQLITE.claim_window
    _HOOKS = _SQLITE.pending_webhooks
    _HOOK_DUE = _SQLITE.webhook_due
    _LEASE = _SQLITE.lease
    _OURS = _SQLITE.ours
    _CLAIMED = _SQLITE.claimed
    _HEALTH = _SQLITE.record_health
    _ATTEMPTS = _SQLITE.insert_attempts
    _DELIVERIES = _SQLITE.update_deliveries
    _STATS = _SQLITE.add_stats
    _NEXT_DUE = _SQLITE.next_due
    _EVENT = _SQLITE.insert_event
    _FAN_OUT = _SQLITE.fan_out

    def insert_events(self, conn: Connection, events: Sequence[Event]) -> None:
        _sqlite(conn).executemany(
            self._EVENT,
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
        raw = _sqlite(conn)
        queued = []
        for event, (exact, resource, everything), now in items:
            rows = raw.execute(
                self._FAN_OUT,
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

    def claim(
        self,
        conn: Connection,
        *,
        now: datetime,
        limit: int,
        lease_until: datetime,
        worker_id: str,
        per_webhook: int,
        busy: Mapping[str, int],
    ) -> list[tuple[ClaimedDelivery, bool]]:
        """The oldest due deliveries, at most each webhook's room (``per_webhook`` less what
        ``busy`` says this worker holds): from the window when it has them, else per webhook,
        skipping the webhooks without room. Run inside the writer's transaction, so nothing
        changes between the choice and the lease."""
        raw = _sqlite(conn)
        rooms = {w: per_webhook - n for w, n in busy.items()}
        at = sqlite_time(now)
        scan = claim_scan(limit)
        window = raw.execute(self._WINDOW, (at, scan)).fetchall()
        ids = pick_within_rooms(window, rooms, per_webhook, limit)
        if len(ids) < limit and len(window) >= scan:
            ids = self._claim_per_webhook(raw, at, rooms, per_webhook, limit)
        if not ids:
            return []
        leased = raw.execute(
            self._LEASE, (sqlite_time(lease_until), worker_id, orjson.dumps(ids).decode())
        ).fetchall()
        cursor = raw.cursor()
        cursor.row_factory = sqlite3.Row
        rows = cursor.execute(
            self._CLAIMED, (orjson.dumps([r[0] for r in leased]).decode(),)
        ).fetchall()
        return [
            (
                claimed_from(r, lease_until, sqlite_parse(r["previous_secret_expires_at"])),
                bool(r["is_active"]),
            )
            for r in rows
        ]

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
            for webhook_id, head in raw.execute(self._HOOKS).fetchall()
            if at is not None and head is not None and head <= at
        )
        due: list[tuple[str, str]] = []
        for _head, webhook_id in hooks:
            room = rooms.get(webhook_id, per_webhook)
            if room <= 0:
                continue
            due += raw.execute(self._HOOK_DUE, (webhook_id, at, room)).fetchall()
            if len(due) >= limit:
                break
        due.sort()
        return [delivery_id for _at, delivery_id in due[:limit]]

    def ours(
        self, conn: Connection, outcomes: Sequence[AttemptOutcome], worker_id: str
    ) -> list[AttemptOutcome]:
        """The outcomes that may be recorded: their delivery is still leased to this worker at
        the attempt before. The others were recorded already, or their lease passed on."""
        if not outcomes:
            return []
        ids = orjson.dumps([o.attempt.delivery_id for o in outcomes]).decode()
        held = dict(_sqlite(conn).execute(self._OURS, (worker_id, ids)).fetchall())
        return [o for o in outcomes if held.get(o.attempt.delivery_id) == o.attempt.attempt - 1]

    def record(self, conn: Connection, outcomes: Sequence[AttemptOutcome], worker_id: str) -> None:
        raw = _sqlite(conn)
        raw.executemany(
            self._HEALTH,
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
                    started if outcome.status in _FINISHED else None,
                    a.delivery_id,
                    worker_id,
                )
            )
        raw.executemany(self._ATTEMPTS, attempts)
        raw.executemany(self._DELIVERIES, updates)
        raw.executemany(
            self._STATS,
            [(w, sqlite_time(hour), *counts) for w, hour, *counts in stats_rows(outcomes)],
        )

    def next_due(self, conn: Connection, now: datetime) -> datetime | None:
        row = _sqlite(conn).execute(self._NEXT_DUE, (sqlite_time(now),)).fetchone()
        return sqlite_parse(row[0]) if row else None


@dataclass(frozen=True, slots=True)
class PgCycle:
    """What one call of ``cstar_cycle`` answered."""

    claimed: list[ClaimedDelivery]
    disabled: list[str]
    #: Deliveries whose outcome was not ours to record; nothing was written when this is set.
    stale: set[str]
    next_due: datetime | None


class PostgresHotPath(HotPath):
    _NEXT_DUE = _POSTGRES.next_due
    _EVENTS = _POSTGRES.insert_events
    _FAN_OUT = _POSTGRES.fan_out
    _NOTIFY_EVENT = f"SELECT pg_notify('{EVENTS_CHANNEL}', '')"
    _NOTIFY_BOTH = f"{_NOTIFY_EVENT}, pg_notify('{DELIVERIES_CHANNEL}', '')"

    def insert_events(self, conn: Connection, events: Sequence[Event]) -> None:
        conn.exec_driver_sql(
            self._EVENTS,
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
            self._FAN_OUT,
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
        conn.exec_driver_sql(self._NOTIFY_BOTH if deliveries else self._NOTIFY_EVENT)

    def next_due(self, conn: Connection, now: datetime) -> datetime | None:
        value = conn.exec_driver_sql(self._NEXT_DUE, (now,)).scalar()
        return value if isinstance(value, datetime) else None

    _CYCLE = _POSTGRES.cycle

    def cycle(
        self,
        conn: Connection,
        outcomes: Sequence[AttemptOutcome],
        *,
        worker_id: str,
        now: datetime,
        claim: ClaimRequest | None,
        gone_reason: str,
        disable_before: datetime,
    ) -> PgCycle:
        """Record and claim in one call of ``cstar_cycle`` (migration 0010): one round trip,
        one transaction."""
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
        rows = conn.exec_driver_sql(
            self._CYCLE,
            (
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
                [o.attempt.started_at if o.status in _FINISHED else None for o in outcomes],
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
            ),
        ).all()
        claimed: list[ClaimedDelivery] = []
        disabled: list[str] = []
        stale: set[str] = set()
        next_due: datetime | None = None
        for row in rows:
            kind = row.kind
            if kind == "claimed" and claim is not None:
                claimed.append(
                    claimed_from(row._mapping, claim.lease_until, row.previous_secret_expires_at)
                )
            elif kind == "disabled":
                disabled.append(row.webhook_id)
            elif kind == "stale":
                stale.add(row.id)
            elif kind == "next_due":
                next_due = row.next_due
        return PgCycle(claimed, disabled, stale, next_due)
