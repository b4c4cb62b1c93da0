"""Table definitions, shared by the SQL store and by the migration drift check.

Migrations in ``migrations/versions`` create these tables; ``tests/contract/test_migrations.py``
proves the two agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, ``timestamptz`` on PostgreSQL, sortable text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a value written by raw SQL on SQLite
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "team_id", sa.String(36), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("last4", sa.String(4), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Index(None, "team_id", "created_at", "id"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "team_id", sa.String(36), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("secret_ciphertext", sa.Text, nullable=False),
    sa.Column("previous_secret_ciphertext", sa.Text, nullable=True),
    sa.Column("previous_secret_expires_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Endpoint health, kept by the dispatcher.
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failing_since", UTCDateTime, nullable=True),
    sa.Column("last_delivery_at", UTCDateTime, nullable=True),
    sa.Column("last_delivery_status", sa.Integer, nullable=True),
    sa.Column("last_delivery_success", sa.Boolean, nullable=True),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
    # Per-endpoint delivery controls (migration 0014, ``domain/webhooks.py``).
    sa.Column("signature_scheme", sa.String(32), nullable=False, server_default="cstar"),
    #: The custom headers: a JSON object, encrypted like the secrets.
    sa.Column("headers_ciphertext", sa.Text, nullable=True),
    sa.Column("rate_limit", sa.Integer, nullable=True),
    sa.Column("ordering", sa.String(8), nullable=False, server_default="none"),
    sa.Column("timeout_seconds", sa.Integer, nullable=True),
    sa.Index(None, "team_id", "created_at", "id"),
    #: The few webhooks every claim looks at: rate-limited, or FIFO.
    sa.Index(
        "ix_webhooks_rate_limited",
        "id",
        postgresql_where=sa.text("rate_limit IS NOT NULL"),
        sqlite_where=sa.text("rate_limit IS NOT NULL"),
    ),
    sa.Index(
        "ix_webhooks_fifo",
        "id",
        postgresql_where=sa.text("ordering = 'fifo'"),
        sqlite_where=sa.text("ordering = 'fifo'"),
    ),
)

#: When a rate-limited webhook's next delivery may start: each claim hands out the slots after
#: it, 1/rate_limit seconds apart, under a lock of this row (migration 0014).
webhook_pacing = sa.Table(
    "webhook_pacing",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("next_at", UTCDateTime, nullable=True),
)

#: One row per (webhook, pattern): fan-out finds subscribers with ``pattern IN (type, res.*, *)``.
webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("pattern", sa.String(100), primary_key=True),
    sa.Column("team_id", sa.String(36), nullable=False),
    sa.Index(None, "team_id", "pattern"),
)

#: A published event. ``payload`` holds the exact body every delivery sends, serialised once.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(160), primary_key=True),
    sa.Column(
        "team_id", sa.String(36), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("request_id", sa.String(40), nullable=True),
    sa.Column("is_test", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    #: Global and increasing: the realtime stream's cursor (migration 0005).
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
    sa.Index(None, "team_id", "created_at"),
    sa.Index(None, "created_at"),
    sa.Index(None, "seq", unique=True),
    sa.Index(None, "team_id", "seq"),
)

#: Publishing with the same key within the window returns the first event.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("team_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column(
        "event_id", sa.String(160), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    #: The purge deletes expired keys in small chunks, oldest first (migration 0012).
    sa.Index(None, "created_at"),
)

#: One event to one webhook. ``status`` is pending (due at ``next_attempt_at``, claimable when
#: its lease is free), paused (its webhook is inactive), succeeded or failed.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("team_id", sa.String(36), nullable=False),
    sa.Column(
        "event_id", sa.String(160), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    #: Attempts since the last (re)queue: indexes the retry schedule.
    sa.Column("retry_index", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("leased_by", sa.String(80), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("completed_at", UTCDateTime, nullable=True),
    #: A FIFO webhook's delivery: its event's ``seq``, the order it is sent in. It waits with no
    #: due time until it is the webhook's next (migration 0014).
    sa.Column("event_seq", sa.BigInteger, nullable=True),
    sa.Index(
        "ix_deliveries_waiting",
        "webhook_id",
        "event_seq",
        postgresql_where=sa.text("status = 'pending' AND next_attempt_at IS NULL"),
        sqlite_where=sa.text("status = 'pending' AND next_attempt_at IS NULL"),
    ),
    sa.Index(
        "ix_deliveries_due",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    ),
    #: One webhook's pending deliveries in due order: a claim looks per webhook through it
    #: when the oldest due deliveries all belong to endpoints without room (migration 0008).
    sa.Index(
        "ix_deliveries_webhook_due",
        "webhook_id",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    ),
    sa.Index(None, "webhook_id", "created_at", "id"),
    sa.Index(None, "event_id"),
    # PostgreSQL: room in each page for heap-only (index-free) updates of the lease.
    postgresql_with={"fillfactor": 70},
)

#: Every attempt, as sent and as answered. PostgreSQL keeps them in day partitions by
#: ``started_at`` (migration 0013, ``PARTITIONED_TABLES``), with the primary key
#: ``(id, started_at)`` that partitioning needs: the retention drops whole days of them.
delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "delivery_id",
        sa.String(40),
        sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("webhook_id", sa.String(40), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("request_headers", sa.JSON, nullable=False),
    sa.Column("response_body", sa.Text, nullable=True),
    sa.Index(None, "delivery_id", "attempt"),
)

#: PostgreSQL's partitioned tables and their partition keys (migration 0013): one partition
#: per UTC day, ``<table>_pYYYYMMDD``, and ``<table>_default`` for rows of a day without one.
PARTITIONED_TABLES = {"delivery_attempts": "started_at"}


def is_partition(name: str) -> bool:
    """Whether ``name`` is one of the partitions of ``PARTITIONED_TABLES``."""
    table, _, suffix = name.rpartition("_")
    return table in PARTITIONED_TABLES and (
        suffix == "default" or (len(suffix) == 9 and suffix[0] == "p" and suffix[1:].isdigit())
    )


#: The API request log (migration 0006): one row per API request of an authenticated caller.
#: ``id`` is the listing's cursor; AUTOINCREMENT on SQLite so an id is never handed out twice,
#: even after retention has emptied the table.
request_logs = sa.Table(
    "request_logs",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "team_id", sa.String(36), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("path", sa.String(2048), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("request_id", sa.String(40), nullable=False),
    sa.Column("key_id", sa.String(40), nullable=False),
    sa.Column("key_prefix", sa.String(16), nullable=False),
    sa.Index(None, "team_id", "id"),
    sqlite_autoincrement=True,
)


#: The dashboard's sessions (migration 0009): found by the SHA-256 of the cookie's token.
#: ``key_id`` is the key a session was opened with (revoking it ends the session); ``None`` for a
#: session opened with an operator's one-time link.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "team_id", sa.String(36), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("key_id", sa.String(40), nullable=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Index(None, "last_seen_at"),
)

#: One-time dashboard sign-in links of ``cstar admin dashboard-link`` (migration 0009).
dashboard_links = sa.Table(
    "dashboard_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "team_id", sa.String(36), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=True),
)

#: The latency histogram's columns of ``delivery_stats``, one per bucket of
#: ``cstar.server.domain.stats.LATENCY_BOUNDS_MS`` (attempts that took at most that many
#: milliseconds, and more than the bound before), then one for everything above 10 s.
LATENCY_COLUMNS: tuple[str, ...] = (
    "latency_le_10ms",
    "latency_le_25ms",
    "latency_le_50ms",
    "latency_le_100ms",
    "latency_le_250ms",
    "latency_le_500ms",
    "latency_le_1000ms",
    "latency_le_2500ms",
    "latency_le_5000ms",
    "latency_le_10000ms",
    "latency_over_10000ms",
)

#: Recorded attempts per webhook and UTC hour (migration 0010), added to by the dispatcher's
#: cycle in the transaction that records them: charts read hours, never attempts. ``retrying``
#: counts failed attempts that will be retried, ``failed`` those after which the delivery
#: failed for good. Rows older than the log retention are purged.
delivery_stats = sa.Table(
    "delivery_stats",
    metadata,
    sa.Column(
        "webhook_id",
        sa.String(40),
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("hour", UTCDateTime, primary_key=True),
    sa.Column("succeeded", sa.Integer, nullable=False),
    sa.Column("retrying", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    *(sa.Column(name, sa.Integer, nullable=False) for name in LATENCY_COLUMNS),
    #: The purge deletes by hour alone.
    sa.Index(None, "hour"),
)

#: Requests counted per rate limiter, window and key (migration 0011), shared by every API
#: process so that a limit holds across replicas (``cstar.server.api.ratelimit``). ``used`` may
#: pass the limit: it counts what was asked for, and a process is granted only what was left.
#: Windows before the previous one are deleted by the limiter.
rate_limit_windows = sa.Table(
    "rate_limit_windows",
    metadata,
    sa.Column("limiter", sa.String(32), primary_key=True),
    #: Unix seconds: a multiple of the limiter's window length.
    sa.Column("window_start", sa.BigInteger, primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("used", sa.BigInteger, nullable=False),
)
