"""PostgreSQL: the whole dispatcher cycle in one transaction, recording each attempt once; both
databases: an index that lets a claim skip a stalled endpoint's backlog.

Until now a cycle was ``cstar_cycle`` (its own transaction) followed, whenever an attempt had
failed, by a second transaction that deactivated webhooks and paused retries. When the second
failed, the dispatcher retried the batch and the function wrote its attempt rows and failure
counts a second time. Now:

* ``cstar_cycle`` also deactivates webhooks (410 Gone, or failing too long) and pauses what
  belongs to inactive webhooks: one call, one transaction, every cycle.
* An attempt is recorded only while its delivery is still leased to this worker at the attempt
  before it. A batch sent again after an answer was lost (or after the lease passed to another
  worker) comes back as ``stale`` rows and changes nothing; the dispatcher drops those outcomes
  and calls again. Recording is idempotent.
* The claim takes the oldest due deliveries from a bounded window, as before; when that window
  is full of deliveries for endpoints with no room (a stalled endpoint's backlog), it looks per
  endpoint instead, one index probe per webhook with pending work, over the new
  ``ix_deliveries_webhook_due``. A backlog no longer costs a scan of itself per cycle.
* The "next due" row is the earliest delivery not yet due: what is due and was not claimed waits
  for room, and the dispatcher is poked when a send finishes.

The function is written out here in full (it replaces the one of migrations 0004 and 0007).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CYCLE = r"""
CREATE FUNCTION cstar_cycle(
    worker text, c_now timestamptz,
    h_id text[], h_reset boolean[], h_after int[], h_failures int[], h_since timestamptz[],
    h_first timestamptz[], h_last_at timestamptz[], h_last_status int[], h_last_ok boolean[],
    a_delivery text[], a_webhook text[], a_attempt int[], a_started timestamptz[], a_ms int[],
    a_code int[], a_ok boolean[], a_error text[], a_url text[], a_headers text[], a_body text[],
    d_status text[], d_retry int[], d_next timestamptz[], d_done timestamptz[],
    gone_ids text[], gone_reason text, disable_before timestamptz,
    c_limit int, c_lease_until timestamptz, c_busy_id text[], c_busy_room int[], c_scan int,
    c_per_webhook int, relaxed boolean
) RETURNS TABLE (
    kind text, id text, team_id text, event_id text, event_type text, webhook_id text,
    attempts int, retry_index int, payload text, request_id text, url text,
    secret_ciphertext text, previous_secret_ciphertext text,
    previous_secret_expires_at timestamptz, next_due timestamptz
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    stale text[];
    disabled text[] := '{}';
    picked text[] := '{}';
    window_size int := 0;
    claimed_count int := 0;
BEGIN
    IF relaxed THEN
        -- A claim alone: losing it in a power cut only means its lease is forgotten.
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;

    IF cardinality(a_delivery) > 0 THEN
        -- Lock order, everywhere: webhook rows (by id), then delivery rows (by id).
        PERFORM 1 FROM webhooks AS w WHERE w.id = ANY(h_id) ORDER BY w.id FOR UPDATE;
        PERFORM 1 FROM deliveries AS d WHERE d.id = ANY(a_delivery) ORDER BY d.id FOR UPDATE;

        -- Record an attempt only while its delivery is ours, at the attempt before it.
        SELECT coalesce(array_agg(u.d), '{}') INTO stale
        FROM unnest(a_delivery, a_attempt) AS u(d, n)
        WHERE NOT EXISTS (
            SELECT 1 FROM deliveries AS x
            WHERE x.id = u.d AND x.leased_by = worker AND x.attempts = u.n - 1
        );
        IF cardinality(stale) > 0 THEN
            RETURN QUERY SELECT 'stale'::text, s, NULL::text, NULL::text, NULL::text, NULL::text,
                NULL::int, NULL::int, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
                NULL::timestamptz, NULL::timestamptz
            FROM unnest(stale) AS s;
            RETURN;
        END IF;

        UPDATE webhooks AS w SET
            consecutive_failures = CASE WHEN u.reset THEN u.after
                                        ELSE w.consecutive_failures + u.failures END,
            failing_since = CASE WHEN u.reset THEN u.since
                                 ELSE coalesce(w.failing_since, u.first) END,
            last_delivery_at = u.last_at,
            last_delivery_status = u.last_status,
            last_delivery_success = u.last_ok
        FROM unnest(h_id, h_reset, h_after, h_failures, h_since, h_first, h_last_at,
                    h_last_status, h_last_ok)
             AS u(id, reset, after, failures, since, first, last_at, last_status, last_ok)
        WHERE w.id = u.id;

        INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at,
            duration_ms, status_code, success, error, url, request_headers, response_body)
        SELECT u.d, u.w, u.n, u.s, u.ms, u.code, u.ok, u.err, u.url, u.h::json, u.body
        FROM unnest(a_delivery, a_webhook, a_attempt, a_started, a_ms, a_code, a_ok, a_error,
                    a_url, a_headers, a_body)
             AS u(d, w, n, s, ms, code, ok, err, url, h, body);

        UPDATE deliveries AS d SET
            status = u.status, attempts = u.n, retry_index = u.retry_index,
            next_attempt_at = u.next_at, lease_until = NULL, leased_by = NULL,
            last_status_code = u.code, last_error = u.err, updated_at = u.at,
            completed_at = u.done
        FROM unnest(a_delivery, d_status, a_attempt, d_retry, d_next, a_code, a_error,
                    a_started, d_done)
             AS u(id, status, n, retry_index, next_at, code, err, at, done)
        WHERE d.id = u.id;

        -- Deactivate webhooks whose endpoint answered 410 Gone, then those failing too long;
        -- their pending deliveries wait, paused, for the webhook to be enabled again.
        IF cardinality(gone_ids) > 0 THEN
            WITH gone AS (
                UPDATE webhooks AS w
                SET is_active = false, disabled_reason = gone_reason, disabled_at = c_now
                WHERE w.id = ANY(gone_ids) AND w.is_active
                RETURNING w.id
            )
            SELECT coalesce(array_agg(g.id), '{}') INTO disabled FROM gone AS g;
        END IF;
        IF false = ANY(a_ok) THEN
            WITH failing AS (
                UPDATE webhooks AS w
                SET is_active = false,
                    disabled_reason = 'Every delivery has failed since '
                        || to_char(w.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                        || '+00:00',
                    disabled_at = c_now
                WHERE w.id = ANY(h_id) AND w.is_active AND w.failing_since IS NOT NULL
                  AND w.failing_since <= disable_before
                RETURNING w.id
            )
            SELECT disabled || coalesce(array_agg(f.id), '{}') INTO disabled FROM failing AS f;
        END IF;
        IF cardinality(disabled) > 0 THEN
            UPDATE deliveries AS d SET status = 'paused', lease_until = NULL, leased_by = NULL
            WHERE d.webhook_id = ANY(disabled) AND d.status = 'pending';
        END IF;
        -- Retries just scheduled for a webhook that a user deactivated meanwhile wait too.
        IF 'pending' = ANY(d_status) THEN
            UPDATE deliveries AS d SET status = 'paused'
            WHERE d.id = ANY(a_delivery) AND d.status = 'pending' AND EXISTS (
                SELECT 1 FROM webhooks AS w WHERE w.id = d.webhook_id AND NOT w.is_active);
        END IF;

        RETURN QUERY SELECT 'disabled'::text, NULL::text, NULL::text, NULL::text, NULL::text,
            x, NULL::int, NULL::int, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
            NULL::timestamptz, NULL::timestamptz
        FROM unnest(disabled) AS x;
    END IF;

    IF c_limit > 0 THEN
        -- The oldest due deliveries, at most each webhook's room, from a bounded window.
        WITH rooms AS (
            SELECT * FROM unnest(c_busy_id, c_busy_room) AS r(webhook_id, room)
        ), win AS (
            SELECT d.id, d.webhook_id, d.next_attempt_at FROM deliveries AS d
            WHERE d.status = 'pending' AND d.next_attempt_at <= c_now
              AND (d.lease_until IS NULL OR d.lease_until < c_now)
            ORDER BY d.next_attempt_at LIMIT c_scan
        ), ranked AS (
            SELECT w.id, w.next_attempt_at,
                   row_number() OVER (PARTITION BY w.webhook_id ORDER BY w.next_attempt_at)
                       AS rank,
                   coalesce(r.room, c_per_webhook) AS room
            FROM win AS w LEFT JOIN rooms AS r ON r.webhook_id = w.webhook_id
        )
        SELECT (SELECT count(*) FROM win)::int,
               coalesce((SELECT array_agg(p.id) FROM (
                   SELECT k.id FROM ranked AS k WHERE k.rank <= k.room
                   ORDER BY k.next_attempt_at LIMIT c_limit) AS p), '{}')
        INTO window_size, picked;

        IF cardinality(picked) < c_limit AND window_size >= c_scan THEN
            -- The window is full of deliveries for endpoints without room (a stalled
            -- endpoint's backlog): look per webhook with pending work instead, skipping those.
            WITH RECURSIVE hooks AS (
                SELECT (SELECT min(d.webhook_id) FROM deliveries AS d
                        WHERE d.status = 'pending') AS w
                UNION ALL
                SELECT (SELECT min(d.webhook_id) FROM deliveries AS d
                        WHERE d.status = 'pending' AND d.webhook_id > h.w)
                FROM hooks AS h WHERE h.w IS NOT NULL
            ), rooms AS (
                SELECT * FROM unnest(c_busy_id, c_busy_room) AS r(webhook_id, room)
            ), open AS (
                SELECT h.w, coalesce(r.room, c_per_webhook) AS room
                FROM hooks AS h LEFT JOIN rooms AS r ON r.webhook_id = h.w
                WHERE h.w IS NOT NULL AND coalesce(r.room, c_per_webhook) > 0
            ), due AS (
                -- One webhook's due deliveries as a range of ix_deliveries_webhook_due. Written
                -- as a row comparison rather than "webhook_id = o.w": with an equality the
                -- planner may walk the due-time index instead, through the other webhooks'
                -- backlog, since it cannot know how skewed the webhooks are.
                SELECT x.id, x.next_attempt_at FROM open AS o CROSS JOIN LATERAL (
                    SELECT d.id, d.next_attempt_at FROM deliveries AS d
                    WHERE (d.webhook_id, d.next_attempt_at) >= (o.w, '-infinity'::timestamptz)
                      AND (d.webhook_id, d.next_attempt_at) <= (o.w, c_now)
                      AND d.status = 'pending'
                      AND (d.lease_until IS NULL OR d.lease_until < c_now)
                    ORDER BY d.webhook_id, d.next_attempt_at LIMIT o.room
                ) AS x
            )
            SELECT coalesce(array_agg(p.id), '{}') INTO picked
            FROM (SELECT due.id FROM due ORDER BY due.next_attempt_at LIMIT c_limit) AS p;
        END IF;

        RETURN QUERY
        WITH locked AS (
            SELECT d.id FROM deliveries AS d JOIN webhooks AS w ON w.id = d.webhook_id
            WHERE d.id = ANY(picked) AND d.status = 'pending'
              AND (d.lease_until IS NULL OR d.lease_until < c_now) AND w.is_active
            FOR UPDATE OF d SKIP LOCKED
        ), claimed AS (
            UPDATE deliveries AS d SET lease_until = c_lease_until, leased_by = worker
            FROM locked WHERE d.id = locked.id
            RETURNING d.id, d.team_id, d.event_id, d.event_type, d.webhook_id, d.attempts,
                      d.retry_index
        )
        SELECT 'claimed'::text, c.id::text, c.team_id::text, c.event_id::text,
               c.event_type::text, c.webhook_id::text, c.attempts, c.retry_index, e.payload,
               e.request_id::text, w.url::text, w.secret_ciphertext,
               w.previous_secret_ciphertext, w.previous_secret_expires_at, NULL::timestamptz
        FROM claimed AS c
        JOIN events AS e ON e.id = c.event_id
        JOIN webhooks AS w ON w.id = c.webhook_id;
        GET DIAGNOSTICS claimed_count = ROW_COUNT;

        IF claimed_count < cardinality(picked) THEN
            -- Some were not claimed: taken by another worker meanwhile, or due for a webhook
            -- deactivated since their fan-out. Those wait, paused, for re-activation.
            UPDATE deliveries AS d SET status = 'paused', lease_until = NULL, leased_by = NULL
            FROM webhooks AS w
            WHERE d.id = ANY(picked) AND d.status = 'pending'
              AND (d.lease_until IS NULL OR d.lease_until < c_now)
              AND w.id = d.webhook_id AND NOT w.is_active;
        END IF;
    END IF;

    RETURN QUERY
    SELECT 'next_due'::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
           NULL::int, NULL::int, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
           NULL::timestamptz,
           (SELECT min(d.next_attempt_at) FROM deliveries AS d
            WHERE d.status = 'pending' AND d.next_attempt_at > c_now);
END
$fn$;
"""


#: The function this migration replaces (0004's, as changed by 0007), for ``downgrade``.
PREVIOUS_CYCLE = r"""CREATE OR REPLACE FUNCTION cstar_cycle(
    worker text,
    h_id text[], h_reset boolean[], h_after int[], h_failures int[], h_since timestamptz[],
    h_first timestamptz[], h_last_at timestamptz[], h_last_status int[], h_last_ok boolean[],
    a_delivery text[], a_webhook text[], a_attempt int[], a_started timestamptz[], a_ms int[],
    a_code int[], a_ok boolean[], a_error text[], a_url text[], a_headers text[], a_body text[],
    d_id text[], d_status text[], d_attempts int[], d_retry int[], d_next timestamptz[],
    d_code int[], d_error text[], d_at timestamptz[], d_done timestamptz[],
    c_now timestamptz, c_limit int, c_lease_until timestamptz, c_busy_id text[],
    c_busy_room int[], c_scan int, c_per_webhook int, relaxed boolean
) RETURNS TABLE (
    id text, team_id text, event_id text, event_type text, webhook_id text, attempts int,
    retry_index int, payload text, request_id text, url text, is_active boolean,
    secret_ciphertext text, previous_secret_ciphertext text,
    previous_secret_expires_at timestamptz, next_due timestamptz
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
    IF relaxed THEN
        -- A claim alone: losing it in a power cut only means its lease is forgotten.
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;

    IF cardinality(h_id) > 0 THEN
        PERFORM 1 FROM webhooks AS w WHERE w.id = ANY(h_id) ORDER BY w.id FOR UPDATE;
        UPDATE webhooks AS w SET
            consecutive_failures = CASE WHEN u.reset THEN u.after
                                        ELSE w.consecutive_failures + u.failures END,
            failing_since = CASE WHEN u.reset THEN u.since
                                 ELSE coalesce(w.failing_since, u.first) END,
            last_delivery_at = u.last_at,
            last_delivery_status = u.last_status,
            last_delivery_success = u.last_ok
        FROM unnest(h_id, h_reset, h_after, h_failures, h_since, h_first, h_last_at,
                    h_last_status, h_last_ok)
             AS u(id, reset, after, failures, since, first, last_at, last_status, last_ok)
        WHERE w.id = u.id;

        PERFORM 1 FROM deliveries AS d WHERE d.id = ANY(a_delivery) ORDER BY d.id FOR UPDATE;
        INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at,
            duration_ms, status_code, success, error, url, request_headers, response_body)
        SELECT u.d, u.w, u.n, u.s, u.ms, u.code, u.ok, u.err, u.url, u.h::json, u.body
        FROM unnest(a_delivery, a_webhook, a_attempt, a_started, a_ms, a_code, a_ok, a_error,
                    a_url, a_headers, a_body)
             AS u(d, w, n, s, ms, code, ok, err, url, h, body)
        WHERE EXISTS (SELECT 1 FROM deliveries AS x WHERE x.id = u.d);

        UPDATE deliveries AS d SET
            status = u.status, attempts = u.attempts, retry_index = u.retry_index,
            next_attempt_at = u.next_at, lease_until = NULL, leased_by = NULL,
            last_status_code = u.code, last_error = u.err, updated_at = u.at,
            completed_at = u.done
        FROM unnest(d_id, d_status, d_attempts, d_retry, d_next, d_code, d_error, d_at, d_done)
             AS u(id, status, attempts, retry_index, next_at, code, err, at, done)
        WHERE d.id = u.id AND d.leased_by = worker;
    END IF;

    IF c_limit > 0 THEN
        RETURN QUERY
        WITH rooms AS (
            SELECT * FROM unnest(c_busy_id, c_busy_room) AS r(webhook_id, room)
        ), candidates AS (
            SELECT d.id, d.webhook_id, d.next_attempt_at FROM deliveries AS d
            WHERE d.status = 'pending' AND d.next_attempt_at <= c_now
              AND (d.lease_until IS NULL OR d.lease_until < c_now)
              AND d.webhook_id NOT IN (SELECT r.webhook_id FROM rooms AS r WHERE r.room <= 0)
            ORDER BY d.next_attempt_at LIMIT c_scan
        ), ranked AS (
            SELECT c.id, c.next_attempt_at,
                   row_number() OVER (PARTITION BY c.webhook_id ORDER BY c.next_attempt_at)
                       AS rank,
                   coalesce(r.room, c_per_webhook) AS room
            FROM candidates AS c LEFT JOIN rooms AS r ON r.webhook_id = c.webhook_id
        ), picked AS (
            SELECT k.id FROM ranked AS k WHERE k.rank <= k.room
            ORDER BY k.next_attempt_at LIMIT c_limit
        ), locked AS (
            SELECT d.id FROM deliveries AS d
            WHERE d.id IN (SELECT p.id FROM picked AS p) AND d.status = 'pending'
              AND (d.lease_until IS NULL OR d.lease_until < c_now)
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE deliveries AS d SET lease_until = c_lease_until, leased_by = worker
            FROM locked WHERE d.id = locked.id
            RETURNING d.id, d.team_id, d.event_id, d.event_type, d.webhook_id, d.attempts,
                      d.retry_index
        )
        SELECT c.id::text, c.team_id::text, c.event_id::text, c.event_type::text,
               c.webhook_id::text, c.attempts, c.retry_index, e.payload, e.request_id::text,
               w.url::text, w.is_active, w.secret_ciphertext, w.previous_secret_ciphertext,
               w.previous_secret_expires_at, NULL::timestamptz
        FROM claimed AS c
        JOIN events AS e ON e.id = c.event_id
        JOIN webhooks AS w ON w.id = c.webhook_id;
    END IF;

    RETURN QUERY
    SELECT NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::int, NULL::int,
           NULL::text, NULL::text, NULL::text, NULL::boolean, NULL::text, NULL::text,
           NULL::timestamptz,
           (SELECT d.next_attempt_at FROM deliveries AS d
            WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until < c_now)
            ORDER BY d.next_attempt_at LIMIT 1);
END
$fn$;
"""


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_webhook_due",
        "deliveries",
        ["webhook_id", "next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cstar_cycle")
        op.execute(CYCLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cstar_cycle")
        op.execute(PREVIOUS_CYCLE)
    op.drop_index("ix_deliveries_webhook_due", table_name="deliveries")
