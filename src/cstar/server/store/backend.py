"""What each database's backend does for the stores, and the helpers they share.

There is one backend per database, ``store/sqlite/backend.py`` and ``store/postgres/backend.py``,
picked once when the server starts (``bootstrap.backend_for``). Each holds what its database
does its own way: the hot statements (publish, the dispatcher's cycle, next due), the claim of
an idempotency key, waking the workers, whether publishes share transactions, and the few locks
and conflict-tolerant inserts of the cold paths. The stores (``store/sql.py``,
``store/deliveries.py``, ``store/request_logs.py``) are SQLAlchemy Core, the same for both.

The hot statements run thousands of times a second, and measured per delivery SQLAlchemy's
statement and row processing cost more than the HTTP request itself (see ``bench/README.md``).
So they are plain SQL, one ``queries.sql`` per database read by ``store/queries.py``, run
through the driver.

Recording adds each batch to ``delivery_stats`` too (attempts per webhook and UTC hour, by
outcome and latency bucket): summed here first (``stats_rows``), one upsert per cycle, in the
same transaction.

Both read and write the same columns, in the same formats, as the SQLAlchemy layer; the
contract and delivery suites run every path on both databases.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import Attempt, DeliveryStatus, Event
from cstar.server.domain.stats import LATENCY_BUCKETS, hour_of, latency_bucket
from cstar.server.store.contract import (
    AttemptOutcome,
    ClaimedDelivery,
    ClaimRequest,
    CycleResult,
)
from cstar.server.store.database import Database

#: A claim chooses from this many times ``limit`` of the oldest due deliveries (the window);
#: when the window is full of deliveries for endpoints without room, it looks per endpoint.
CLAIM_SCAN_FACTOR = 2
#: The statuses after which a delivery is complete.
FINISHED = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)

GONE_REASON = "The endpoint answered 410 Gone"


def failing_reason(since: datetime) -> str:
    return f"Every delivery has failed since {since.isoformat(timespec='seconds')}"


#: An event to publish, the subscription patterns it matches (exact, resource wildcard, ``*``),
#: and the moment its deliveries are queued.
Publish = tuple[Event, Sequence[str], datetime]


#: A publish with an idempotency key: the event, its patterns and moment (as ``Publish``), the
#: key, and the start of the key's window (an older key is stale and taken over).
KeyedPublish = tuple[Event, Sequence[str], datetime, str, datetime]


class KeyTaken(Exception):
    """A concurrent publish committed the same idempotency key first."""


class Backend(ABC):
    """One database's own ways, for the stores. Publishing is inserting the events, then
    their fan-out, then waking whoever waits for them, in the caller's transaction."""

    #: Whether publishes without an idempotency key share transactions, through the store's
    #: batcher: one job with one insert for the whole group instead of a savepoint per publish.
    groups_publishes = False
    #: Whether keyed publishes do too (the backend then claims keys together,
    #: ``claim_new_keys``).
    groups_keyed_publishes = False
    #: Whether one writer serves every write (SQLite): long housekeeping then pauses between
    #: its transactions, so that publishes and deliveries keep their share.
    single_writer = False

    def __init__(self, database: Database) -> None:
        self._db = database

    # -- publishing --------------------------------------------------------------------------
    def publish_many(
        self, conn: Connection, items: Sequence[Publish]
    ) -> list[list[tuple[str, str]]]:
        self.insert_events(conn, [event for event, _, _ in items])
        queued = self.fan_out(conn, items)
        self.notify(conn, deliveries=any(queued))
        return queued

    @abstractmethod
    def insert_events(self, conn: Connection, events: Sequence[Event]) -> None: ...

    @abstractmethod
    def fan_out(self, conn: Connection, items: Sequence[Publish]) -> list[list[tuple[str, str]]]:
        """One delivery per event and active subscribed webhook: each event's
        (delivery id, webhook id)."""

    @abstractmethod
    def notify(self, conn: Connection, *, deliveries: bool) -> None:
        """Tell the other processes, when this commits, of new events (and new deliveries)."""

    @abstractmethod
    def wake_workers(self, conn: Connection) -> None:
        """Tell idle workers, when this commits, that there is work to claim."""

    @abstractmethod
    def claim_key(self, conn: Connection, event: Event, key: str, since: datetime) -> None:
        """Record the idempotency key for this event; a stale key (older than ``since``) is
        replaced. Raises ``KeyTaken`` when a fresh one was committed meanwhile."""

    def claim_new_keys(self, conn: Connection, items: Sequence[KeyedPublish]) -> bool:
        """For a batch of keyed publishes whose events are inserted: claim every key, unless one
        of them is fresh (a replay) or held by another transaction. ``False`` means the batch
        must be rolled back and each publish made alone. Only for backends that group
        publishes."""
        raise NotImplementedError

    # -- dispatching -------------------------------------------------------------------------
    @abstractmethod
    async def record_and_claim(
        self,
        outcomes: Sequence[AttemptOutcome],
        claim: ClaimRequest | None,
        *,
        worker_id: str,
        now: datetime,
        disable_failing_since: datetime,
    ) -> CycleResult:
        """The dispatcher's cycle: record ``outcomes``, then claim, in one transaction."""

    @abstractmethod
    def next_due(self, conn: Connection, now: datetime) -> datetime | None:
        """The earliest delivery not yet due."""

    async def next_due_at(self, now: datetime) -> datetime | None:
        return await self._db.read(lambda conn: self.next_due(conn, now))

    # -- history -----------------------------------------------------------------------------
    async def add_partitions(self, today: date) -> None:  # noqa: B027 (optional)
        """Make the day partitions of the attempts for ``today`` and the days just after, where
        this database has them; nothing otherwise."""

    async def drop_partitions(self, before: datetime) -> int:
        """Drop the whole days of attempts that ended before ``before``, where this database
        keeps days apart: how many days went. The purge deletes the rest with their
        deliveries."""
        return 0

    # -- management and request logs (cold paths) -------------------------------------------
    @abstractmethod
    def insert_meta(self, conn: Connection, key: str, value: str) -> bool:
        """Insert an operator metadata entry unless its key exists: whether it was inserted."""

    @abstractmethod
    def lock_team(self, conn: Connection, team_id: str) -> None:
        """Serialise, until this transaction ends, the writes that count a team's rows before
        adding or revoking one (so a limit holds, and one secret key always remains)."""

    @abstractmethod
    def lock_request_log_inserts(self, conn: Connection) -> None:
        """Make batches of request log entries commit in the order their ids were drawn, so a
        reader following ``id > after`` never sees a later id before an earlier one."""


# -- shared by both backends -----------------------------------------------------------------


class ByName(Protocol):
    """A row read by column name: ``sqlite3.Row`` or SQLAlchemy's ``RowMapping``."""

    def __getitem__(self, name: str, /) -> Any: ...


def claimed_from(
    row: ByName,
    lease_until: datetime,
    previous_expires_at: datetime | None,
    send_at: datetime | None = None,
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
        signature_scheme=row["signature_scheme"],
        headers_ciphertext=row["headers_ciphertext"],
        timeout_seconds=row["timeout_seconds"],
        send_at=send_at,
    )


def pace_rooms(
    pacing: Iterable[tuple[str, int, datetime | None]], *, now: datetime, until: datetime
) -> dict[str, int]:
    """For each rate-limited webhook ``(id, rate per second, next free moment)``, how many of
    its slots, 1/rate seconds apart from the later of that moment and ``now``, start by
    ``until``."""
    rooms = {}
    for webhook_id, rate, next_at in pacing:
        start = max(next_at or now, now)
        ahead = (until - start).total_seconds()
        rooms[webhook_id] = max(0, math.floor(ahead * rate) + 1) if ahead >= 0 else 0
    return rooms


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
