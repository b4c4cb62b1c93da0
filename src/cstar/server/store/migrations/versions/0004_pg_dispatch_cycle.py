"""PostgreSQL: the dispatcher's cycle as one server-side function (one round trip).

A cycle records finished attempts (webhook health, attempt rows, delivery state) and claims new
due deliveries. As separate statements it took seven round trips, and on a loaded machine each
round trip cost 1 to 2 ms. ``cstar_cycle`` does the same work in one call, in the lock order
every other writer uses (webhook rows by id, then delivery rows). SQLite runs the same steps as
plain statements in-process (``store/sqlite/backend.py``); the contract suite runs both.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CYCLE = r"""
CREATE OR REPLACE FUNCTION cstar_cycle(
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

        INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at,
            duration_ms, status_code, success, error, url, request_headers, response_body)
        SELECT u.d, u.w, u.n, u.s, u.ms, u.code, u.ok, u.err, u.url, u.h::json, u.body
        FROM unnest(a_delivery, a_webhook, a_attempt, a_started, a_ms, a_code, a_ok, a_error,
                    a_url, a_headers, a_body)
             AS u(d, w, n, s, ms, code, ok, err, url, h, body);

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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CYCLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cstar_cycle")
