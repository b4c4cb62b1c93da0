"""The storage contract every backend fulfils.

Services depend on this protocol only. ``tests/contract`` runs one suite against each backend
(SQLite and PostgreSQL) so the two cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Final, Protocol

from cstar.server.domain.dashboard import DashboardSession
from cstar.server.domain.deliveries import Attempt, Delivery, DeliveryStatus, Event
from cstar.server.domain.models import ApiKey, KeyKind, Team, Webhook
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.domain.request_logs import RequestLogEntry, RequestLogPage, RequestLogQuery
from cstar.server.domain.stats import HourlyStats

#: A claim's look-ahead for rate-limited webhooks (``ClaimRequest.pace_ahead``): long enough
#: that claims a poll interval apart keep every slot filled, short enough that a worker holds
#: few deliveries waiting for their moment.
PACE_AHEAD = timedelta(milliseconds=250)


class StoreError(Exception):
    """The database failed in a way the caller cannot fix (driver errors are wrapped in this)."""


class RevokeOutcome(Enum):
    REVOKED = "revoked"
    NOT_FOUND = "not_found"
    ALREADY_REVOKED = "already_revoked"
    LAST_SECRET_KEY = "last_secret_key"  # noqa: S105


class _Unchanged(enum.Enum):
    UNCHANGED = "unchanged"


#: A field left as it is, where ``None`` is a value (no rate limit, the default timeout).
UNCHANGED: Final = _Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class WebhookChanges:
    """Fields of a webhook to change; ``None`` (``UNCHANGED`` where ``None`` is a value) leaves
    a field as it is. ``clear_headers`` removes the custom headers."""

    name: str | None = None
    url: str | None = None
    events: tuple[str, ...] | None = None
    is_active: bool | None = None
    signature_scheme: str | None = None
    headers_ciphertext: str | None = None
    clear_headers: bool = False
    rate_limit: int | _Unchanged | None = UNCHANGED
    ordering: str | None = None
    timeout_seconds: int | _Unchanged | None = UNCHANGED


class Store(Protocol):
    # -- operator metadata -------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None: ...

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` unless the key exists; return what is stored (race-safe)."""
        ...

    async def ping(self) -> None: ...

    # -- teams -------------------------------------------------------------------------------
    async def create_team(self, team: Team, keys: Sequence[ApiKey]) -> None:
        """Create a team and its first keys in one transaction."""
        ...

    async def create_first_team(self, team: Team, keys: Sequence[ApiKey], *, marker: str) -> bool:
        """Create the team and its keys, and set the metadata key ``marker``, in one
        transaction; do nothing and answer False when ``marker`` is already set."""
        ...

    async def get_team(self, team_id: str) -> Team | None: ...

    async def list_teams(self) -> list[Team]: ...

    async def count_teams(self) -> int: ...

    # -- API keys ----------------------------------------------------------------------------
    async def insert_key(self, key: ApiKey, *, max_active: int | None = None) -> bool:
        """Insert ``key``; with ``max_active``, only if the team has fewer active (unrevoked)
        keys than that, checked and inserted atomically. Whether it was inserted."""
        ...

    async def find_key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def get_key(self, team_id: str, key_id: str) -> ApiKey | None: ...

    async def list_keys(self, team_id: str, page: PageRequest) -> Page[ApiKey]: ...

    async def revoke_key(self, team_id: str, key_id: str, now: datetime) -> RevokeOutcome:
        """Revoke a key, refusing to revoke the team's last active secret key."""
        ...

    async def count_active_keys(self, team_id: str, kind: KeyKind) -> int: ...

    async def touch_key(self, key_id: str, now: datetime) -> None:
        """Record that a key was used."""
        ...

    # -- webhooks ----------------------------------------------------------------------------
    async def insert_webhook(self, webhook: Webhook, *, max_per_team: int | None = None) -> bool:
        """Insert ``webhook``; with ``max_per_team``, only if the team has fewer webhooks than
        that, checked and inserted atomically. Whether it was inserted."""
        ...

    async def get_webhook(self, team_id: str, webhook_id: str) -> Webhook | None: ...

    async def list_webhooks(
        self, team_id: str, *, active: bool | None, page: PageRequest
    ) -> Page[Webhook]: ...

    async def update_webhook(
        self, team_id: str, webhook_id: str, changes: WebhookChanges, now: datetime
    ) -> Webhook | None:
        """Apply ``changes`` in one statement (no lost updates); ``None`` if there is no such."""
        ...

    async def rotate_secret(
        self,
        team_id: str,
        webhook_id: str,
        new_secret_ciphertext: str,
        previous_expires_at: datetime | None,
        now: datetime,
    ) -> Webhook | None:
        """Install a new secret. With ``previous_expires_at`` the current secret stays valid
        beside it until then; without, it stops at once."""
        ...

    async def delete_webhook(self, team_id: str, webhook_id: str) -> bool: ...


# -- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    delivery_id: str
    webhook_id: str


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    event: Event
    queued: list[QueuedDelivery]
    #: True when an idempotency key matched an earlier event: nothing new was queued.
    replayed: bool


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A due delivery, leased to one worker, with everything needed to send it."""

    delivery_id: str
    team_id: str
    event_id: str
    event_type: str
    webhook_id: str
    url: str
    payload: str
    request_id: str | None
    #: Attempts made before this one.
    attempts: int
    retry_index: int
    secret_ciphertext: str
    previous_secret_ciphertext: str | None
    previous_secret_expires_at: datetime | None
    lease_until: datetime
    signature_scheme: str = "cstar"
    #: The webhook's custom headers, encrypted (``None``: none).
    headers_ciphertext: str | None = None
    #: Seconds the attempt may take (``None``: the server's delivery timeout).
    timeout_seconds: int | None = None
    #: A rate-limited webhook's delivery starts no earlier than this (its slot in the pace).
    send_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """One attempt and what it means for its delivery and its webhook."""

    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None
    retry_index: int
    #: Set when the endpoint asked to be removed (410 Gone): the webhook is deactivated.
    deactivate_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """What a dispatcher asks for: up to ``limit`` due deliveries, at most ``per_webhook`` per
    webhook less what ``busy`` says it already holds for that webhook."""

    now: datetime
    limit: int
    lease_until: datetime
    worker_id: str
    per_webhook: int
    busy: Mapping[str, int]
    #: How far ahead a claim hands out a rate-limited webhook's slots: a worker holds those
    #: deliveries until their moment comes.
    pace_ahead: timedelta = PACE_AHEAD
    #: The earliest slot the claim may hand out (``None``: ``now``): the worker's now plus the
    #: time its answers take to reach it, so that slots are not already past on arrival.
    pace_from: datetime | None = None

    @property
    def slots_from(self) -> datetime:
        return self.pace_from or self.now

    @property
    def slots_until(self) -> datetime:
        return self.slots_from + self.pace_ahead


@dataclass(frozen=True, slots=True)
class CycleResult:
    claimed: list[ClaimedDelivery]
    #: Webhooks deactivated by the recorded attempts (410 Gone, or failing too long).
    disabled: list[str]
    #: When the earliest delivery not yet due falls due (``None``: none). Deliveries already
    #: due but not claimed are waiting for room at their endpoint or for another worker's lease.
    next_due: datetime | None
    #: Outcomes not recorded because their delivery was no longer this worker's at that
    #: attempt (recorded already, or its lease had passed to another worker).
    stale: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    webhook_id: str | None = None
    status: DeliveryStatus | None = None
    event_type: str | None = None


#: One event of a batch: the event, the subscription patterns it matches, the moment its
#: deliveries are queued, and its idempotency key if it has one.
BatchPublish = tuple[Event, Sequence[str], datetime, str | None]


class DeliveryStore(Protocol):
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
        """Store the event and one pending delivery per active subscribed webhook, in one
        transaction (fanned out in bulk). A known idempotency key newer than
        ``idempotency_since`` returns the first event instead."""
        ...

    async def publish_batch(
        self, items: Sequence[BatchPublish], *, idempotency_since: datetime
    ) -> list[PublishOutcome]:
        """Store several events and their deliveries in one transaction, all or nothing, and
        answer one outcome per item, in order. An item whose idempotency key is fresh (newer
        than ``idempotency_since``), or repeats the key of an earlier item of the batch,
        returns that first event instead and stores nothing."""
        ...

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
        """One dispatcher cycle in one transaction: record, then claim, then look ahead.

        An outcome is recorded only while its delivery is leased to ``worker_id`` at the attempt
        before it, so recording the same batch twice changes nothing (``CycleResult.stale``).
        A claim never takes more than a webhook's room, and the deliveries of webhooks without
        room cost it nothing however many there are."""
        ...

    async def release(self, delivery_ids: Sequence[str], *, worker_id: str) -> None:
        """Give back leases without an attempt (graceful shutdown)."""
        ...

    async def release_unheld(self, held: Sequence[str], *, worker_id: str) -> int:
        """Give back every lease of ``worker_id`` but ``held`` (claims a failed cycle may have
        committed without the worker hearing of them); how many."""
        ...

    async def next_due_at(self, now: datetime) -> datetime | None:
        """When the earliest delivery not yet due falls due."""
        ...

    async def add_partitions(self, today: date) -> None:
        """Make ready the storage of the attempts for ``today`` and the next days, where the
        database partitions it by day (PostgreSQL); nothing elsewhere."""
        ...

    async def purge(self, *, completed_before: datetime, idempotency_before: datetime) -> int:
        """Delete completed deliveries (and their attempts), and then events with no
        delivery left, older than the cut-offs, and the delivery statistics of the hours that
        ended before ``completed_before``. Pending deliveries are never deleted."""
        ...

    # -- reading and re-queueing -------------------------------------------------------------
    async def get_event(self, team_id: str, event_id: str) -> Event | None: ...

    async def get_delivery(self, team_id: str, delivery_id: str) -> Delivery | None: ...

    async def list_deliveries(
        self, team_id: str, where: DeliveryFilter, page: PageRequest
    ) -> Page[Delivery]: ...

    async def list_attempts(self, delivery_id: str) -> list[Attempt]: ...

    async def hourly_stats(
        self, team_id: str, webhook_ids: Sequence[str], *, since: datetime
    ) -> list[HourlyStats]:
        """The recorded attempts of the team's webhooks among ``webhook_ids``, per webhook and
        UTC hour, from the hour of ``since`` on; ordered by webhook id (as Python orders
        strings), then hour. Hours without attempts have no row (``domain.stats.fill_hours``
        adds them). Test sends are not counted. One indexed read: its cost is the hours
        returned, not the attempts."""
        ...

    async def requeue(self, team_id: str, delivery_id: str, now: datetime) -> Delivery | None:
        """Due again now with a fresh retry schedule (paused if its webhook is inactive)."""
        ...

    async def recover(
        self, team_id: str, webhook_id: str, *, since: datetime, now: datetime
    ) -> int:
        """Re-queue the webhook's failed deliveries created since ``since``; how many."""
        ...

    async def record_test_send(self, event: Event, delivery: Delivery, attempt: Attempt) -> None:
        """Store a synchronous test send: its event, its (completed) delivery and attempt."""
        ...


# -- the API request log ------------------------------------------------------------------------


class RequestLogStore(Protocol):
    async def insert(self, entries: Sequence[RequestLogEntry]) -> None:
        """Write a batch in one transaction; ids increase in the order of ``entries``, and a
        reader never sees a later id before an earlier one."""
        ...

    async def list(self, team_id: str, query: RequestLogQuery) -> RequestLogPage:
        """One team's entries: newest first, or with ``after`` oldest first above it."""
        ...

    async def purge(self, *, before: datetime) -> int:
        """Delete entries created before ``before``; how many. Ids are never handed out again."""
        ...


# -- the dashboard's sessions -------------------------------------------------------------------


class DashboardStore(Protocol):
    async def insert_session(self, session: DashboardSession) -> None: ...

    async def find_session(self, token_hash: str) -> DashboardSession | None:
        """The session, unless the key it was opened with has been revoked since."""
        ...

    async def touch_session(self, token_hash: str, now: datetime) -> None: ...

    async def delete_session(self, token_hash: str) -> None: ...

    async def purge_sessions(self, *, idle_since: datetime) -> int:
        """Delete sessions idle since before ``idle_since``, and expired sign-in links."""
        ...

    async def insert_link(
        self, token_hash: str, team_id: str, *, now: datetime, expires_at: datetime
    ) -> None: ...

    async def use_link(self, token_hash: str, now: datetime) -> str | None:
        """Use a link once: its team if it was unused and unexpired, else ``None``."""
        ...
