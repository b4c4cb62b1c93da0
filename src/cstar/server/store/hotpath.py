"""The hot statements, in each database's own SQL: publish, the dispatcher's cycle, next due.

Everything else in the store is SQLAlchemy Core. These run thousands of times a second, and
measured per delivery SQLAlchemy's statement and row processing cost more than the HTTP request
itself (see ``bench/README.md``). So they are plain SQL run through the driver:

* SQLite: ``executemany`` loops in C over prepared tuples, the cycle inline on the event loop
  (see ``SqliteDatabase.write_short``);
* PostgreSQL: the cycle is one call of the ``cstar_cycle`` function (migration 0004): recording
  over ``unnest(...)`` arrays and a claim that locks with ``FOR UPDATE SKIP LOCKED``, in one
  round trip however many rows.

They read and write the same columns, in the same formats, as the SQLAlchemy layer; the
contract and delivery suites run every path on both databases.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import Attempt, DeliveryStatus, Event
from cstar.server.store.contract import AttemptOutcome, ClaimedDelivery, ClaimRequest

#: A claim chooses from this many times ``limit`` of the oldest due deliveries.
CLAIM_SCAN_FACTOR = 2
_FINISHED = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)


def sqlite_time(moment: datetime | None) -> str | None:
    """The text SQLAlchemy stores for a UTC datetime on SQLite (sorts as time does)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def claimed_row(
    row: Sequence[Any], previous_expires_at: datetime | None, lease_until: datetime
) -> tuple[ClaimedDelivery, bool]:
    """A claim row (the column order both claims select) and whether its webhook is active."""
    return (
        ClaimedDelivery(
            delivery_id=row[0],
            team_id=row[1],
            event_id=row[2],
            event_type=row[3],
            webhook_id=row[4],
            attempts=row[5],
            retry_index=row[6],
            payload=row[7],
            request_id=row[8],
            url=row[9],
            secret_ciphertext=row[11],
            previous_secret_ciphertext=row[12],
            previous_secret_expires_at=previous_expires_at,
            lease_until=lease_until,
        ),
        bool(row[10]),
    )


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


def _sqlite(conn: Connection) -> sqlite3.Connection:
    """The driver connection under SQLAlchemy's, inside the same transaction."""
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


class SqliteHotPath:
    """Statements for SQLite, run inline on the event loop by the dispatcher's cycle.

    Measured on the target machine, per 128 deliveries: ``executemany`` inserts attempts in
    0.3 ms where moving the rows as one JSON array (``json_each``) takes 1.0 to 1.4 ms; the
    claim's ranking window costs 0.5 ms at twice the limit and 0.8 ms at four times.
    """

    _CLAIM = """
        UPDATE deliveries SET lease_until = ?1, leased_by = ?2
        WHERE id IN (
            SELECT id FROM (
                SELECT c.id, c.next_attempt_at,
                       row_number() OVER (
                           PARTITION BY c.webhook_id ORDER BY c.next_attempt_at
                       ) AS rank,
                       coalesce(r.value, ?3) AS room
                FROM (
                    SELECT id, webhook_id, next_attempt_at FROM deliveries
                    WHERE status = 'pending' AND next_attempt_at <= ?4
                      AND (lease_until IS NULL OR lease_until < ?4)
                      AND webhook_id NOT IN (SELECT key FROM json_each(?5) WHERE value <= 0)
                    ORDER BY next_attempt_at LIMIT ?6
                ) AS c
                LEFT JOIN json_each(?5) AS r ON r.key = c.webhook_id
            )
            WHERE rank <= room ORDER BY next_attempt_at LIMIT ?7
        )
        RETURNING id
    """
    _CLAIMED = """
        SELECT d.id, d.team_id, d.event_id, d.event_type, d.webhook_id, d.attempts,
               d.retry_index, e.payload, e.request_id, w.url, w.is_active,
               w.secret_ciphertext, w.previous_secret_ciphertext, w.previous_secret_expires_at
        FROM deliveries AS d
        JOIN events AS e ON e.id = d.event_id
        JOIN webhooks AS w ON w.id = d.webhook_id
        WHERE d.id IN (SELECT value FROM json_each(?1))
    """
    _HEALTH = """
        UPDATE webhooks SET
            consecutive_failures = CASE WHEN ?2 THEN ?3 ELSE consecutive_failures + ?4 END,
            failing_since = CASE WHEN ?2 THEN ?5 ELSE coalesce(failing_since, ?6) END,
            last_delivery_at = ?7, last_delivery_status = ?8, last_delivery_success = ?9
        WHERE id = ?1
    """
    #: An attempt whose delivery is gone (its webhook was deleted while it was in flight) has
    #: nothing to belong to: it is dropped rather than failing the whole cycle.
    _ATTEMPTS = """
        INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at, duration_ms,
            status_code, success, error, url, request_headers, response_body)
        SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
        WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?1)
    """
    _DELIVERIES = """
        UPDATE deliveries SET status = ?, attempts = ?, retry_index = ?, next_attempt_at = ?,
            lease_until = NULL, leased_by = NULL, last_status_code = ?, last_error = ?,
            updated_at = ?, completed_at = ?
        WHERE id = ? AND leased_by = ?
    """
    _NEXT_DUE = """
        SELECT next_attempt_at FROM deliveries
        WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < ?)
        ORDER BY next_attempt_at LIMIT 1
    """
    #: Writers are serialised, so ``MAX(seq) + 1`` (one index probe) is unique and increasing.
    _EVENT = """
        INSERT INTO events (id, team_id, type, payload, request_id, is_test, created_at, seq)
        VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))
    """
    _FAN_OUT = """
        INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, attempts,
            retry_index, next_attempt_at, created_at, updated_at)
        SELECT 'dlv_' || lower(hex(randomblob(12))), ?1, ?2, w.id, ?3, 'pending', 0, 0,
               ?4, ?4, ?4
        FROM webhooks AS w
        WHERE w.team_id = ?1 AND w.is_active = 1 AND w.id IN (
            SELECT webhook_id FROM webhook_subscriptions
            WHERE team_id = ?1 AND pattern IN (?5, ?6, ?7)
        )
        RETURNING id, webhook_id
    """

    def publish(
        self, conn: Connection, event: Event, patterns: Sequence[str], now: datetime
    ) -> list[tuple[str, str]]:
        raw = _sqlite(conn)
        raw.execute(
            self._EVENT,
            (
                event.id,
                event.team_id,
                event.type,
                event.payload,
                event.request_id,
                event.is_test,
                sqlite_time(event.created_at),
            ),
        )
        exact, resource, everything = patterns
        return [
            (row[0], row[1])
            for row in raw.execute(
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
        ]

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
        raw = _sqlite(conn)
        rooms = orjson.dumps({w: per_webhook - n for w, n in busy.items()}).decode()
        ids = [
            row[0]
            for row in raw.execute(
                self._CLAIM,
                (
                    sqlite_time(lease_until),
                    worker_id,
                    per_webhook,
                    sqlite_time(now),
                    rooms,
                    max(limit * CLAIM_SCAN_FACTOR, 100),
                    limit,
                ),
            ).fetchall()
        ]
        if not ids:
            return []
        rows = raw.execute(self._CLAIMED, (orjson.dumps(ids).decode(),)).fetchall()
        return [claimed_row(r, sqlite_parse(r[13]), lease_until) for r in rows]

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

    def next_due(self, conn: Connection, now: datetime) -> datetime | None:
        row = _sqlite(conn).execute(self._NEXT_DUE, (sqlite_time(now),)).fetchone()
        return sqlite_parse(row[0]) if row else None


class PostgresHotPath:
    _NEXT_DUE = """
        SELECT next_attempt_at FROM deliveries
        WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < $1)
        ORDER BY next_attempt_at LIMIT 1
    """
    _EVENT = """
        INSERT INTO events (id, team_id, type, payload, request_id, is_test, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
    """
    _FAN_OUT = """
        INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, attempts,
            retry_index, next_attempt_at, created_at, updated_at)
        SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), $1::text, $2::text, w.id,
               $3::text, 'pending', 0, 0, $4::timestamptz, $4::timestamptz, $4::timestamptz
        FROM webhooks AS w
        WHERE w.team_id = $1::text AND w.is_active AND w.id IN (
            SELECT webhook_id FROM webhook_subscriptions
            WHERE team_id = $1::text AND pattern = ANY($5::text[])
        )
        RETURNING id, webhook_id
    """
    _NOTIFY_EVENT = "SELECT pg_notify('cstar_events', '')"
    _NOTIFY_BOTH = "SELECT pg_notify('cstar_events', ''), pg_notify('cstar_deliveries', '')"

    def publish(
        self, conn: Connection, event: Event, patterns: Sequence[str], now: datetime
    ) -> list[tuple[str, str]]:
        conn.exec_driver_sql(
            self._EVENT,
            (
                event.id,
                event.team_id,
                event.type,
                event.payload,
                event.request_id,
                event.is_test,
                event.created_at,
            ),
        )
        queued = [
            (row[0], row[1])
            for row in conn.exec_driver_sql(
                self._FAN_OUT, (event.team_id, event.id, event.type, now, list(patterns))
            ).all()
        ]
        conn.exec_driver_sql(self._NOTIFY_BOTH if queued else self._NOTIFY_EVENT)
        return queued

    def next_due(self, conn: Connection, now: datetime) -> datetime | None:
        value = conn.exec_driver_sql(self._NEXT_DUE, (now,)).scalar()
        return value if isinstance(value, datetime) else None

    _CYCLE = """
        SELECT * FROM cstar_cycle(
            $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
            $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29,
            $30, $31, $32, $33, $34, $35, $36, $37, $38
        )
    """

    def cycle(
        self,
        conn: Connection,
        outcomes: Sequence[AttemptOutcome],
        worker_id: str,
        claim: ClaimRequest | None,
    ) -> tuple[list[tuple[ClaimedDelivery, bool]], datetime | None]:
        """Record and claim in one call of ``cstar_cycle`` (migration 0004): one round trip."""
        health = health_rows(outcomes)
        h = [list(c) for c in zip(*health, strict=True)] if health else [[] for _ in range(9)]
        attempts = [o.attempt for o in outcomes]
        finished = [o.status in _FINISHED for o in outcomes]
        busy = dict(claim.busy) if claim is not None else {}
        now = claim.now if claim is not None else None
        rows = conn.exec_driver_sql(
            self._CYCLE,
            (
                worker_id,
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
                [a.delivery_id for a in attempts],
                [o.status.value for o in outcomes],
                [a.attempt for a in attempts],
                [o.retry_index for o in outcomes],
                [o.next_attempt_at for o in outcomes],
                [a.status_code for a in attempts],
                [a.error for a in attempts],
                [a.started_at for a in attempts],
                [
                    a.started_at if done else None
                    for a, done in zip(attempts, finished, strict=True)
                ],
                now or (attempts[0].started_at if attempts else None),
                claim.limit if claim is not None else 0,
                claim.lease_until if claim is not None else None,
                list(busy),
                [claim.per_webhook - busy[w] for w in busy] if claim is not None else [],
                max(claim.limit * CLAIM_SCAN_FACTOR, 100) if claim is not None else 0,
                claim.per_webhook if claim is not None else 0,
                not outcomes,
            ),
        ).all()
        claimed = [
            claimed_row(r, r[13], claim.lease_until)
            for r in rows
            if r[0] is not None and claim is not None
        ]
        next_due = next((r[14] for r in rows if r[0] is None), None)
        return claimed, next_due
