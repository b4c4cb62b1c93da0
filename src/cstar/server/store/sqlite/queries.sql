-- SQLite's hot statements, run through the driver (``store/sqlite/backend.py``).
-- Plain SQL, not SQLAlchemy: they run thousands of times a second, and SQLAlchemy's
-- statement and row processing cost more than the delivery itself (``store/backend.py``).
-- Parameters are ``?`` or ``?N``; times are SQLAlchemy's text for UTC (``sqlite_time``).

-- name: insert_event
-- One event. Writers are serialised, so ``MAX(seq) + 1`` (one index probe) is unique
-- and increasing.
INSERT INTO events (id, team_id, type, payload, request_id, is_test, created_at, seq)
VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))

-- name: fan_out
-- One event's deliveries: one per active webhook subscribed to one of its patterns
-- (exact, resource wildcard, ``*``). A FIFO or rate-limited webhook's wait with no due time,
-- numbered by their event (the claim makes them due in turn).
INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, attempts,
    retry_index, next_attempt_at, created_at, updated_at, event_seq)
SELECT 'dlv_' || lower(hex(randomblob(12))), ?1, ?2, w.id, ?3, 'pending', 0, 0,
       CASE WHEN w.ordering = 'fifo' OR w.rate_limit IS NOT NULL THEN NULL ELSE ?4 END, ?4, ?4,
       CASE WHEN w.ordering = 'fifo' OR w.rate_limit IS NOT NULL
            THEN (SELECT seq FROM events WHERE id = ?2) END
FROM webhooks AS w
WHERE w.team_id = ?1 AND w.is_active = 1 AND w.id IN (
    SELECT webhook_id FROM webhook_subscriptions
    WHERE team_id = ?1 AND pattern IN (?5, ?6, ?7)
)
RETURNING id, webhook_id

-- name: claim_window
-- The claim window: the oldest due deliveries whose lease is free.
SELECT id, webhook_id FROM deliveries
WHERE status = 'pending' AND next_attempt_at <= ?1
  AND (lease_until IS NULL OR lease_until < ?1)
ORDER BY next_attempt_at LIMIT ?2

-- name: pending_webhooks
-- Every webhook with pending deliveries and its earliest one: one probe per webhook of
-- ``ix_deliveries_webhook_due`` (a loose index scan), whatever the size of its backlog.
WITH RECURSIVE hooks(w) AS (
    SELECT (SELECT min(webhook_id) FROM deliveries WHERE status = 'pending')
    UNION ALL
    SELECT (SELECT min(webhook_id) FROM deliveries
            WHERE status = 'pending' AND webhook_id > hooks.w)
    FROM hooks WHERE hooks.w IS NOT NULL
)
SELECT w, (SELECT min(next_attempt_at) FROM deliveries
           WHERE webhook_id = hooks.w AND status = 'pending')
FROM hooks WHERE w IS NOT NULL

-- name: webhook_due
-- One webhook's oldest due deliveries whose lease is free.
SELECT next_attempt_at, id FROM deliveries
WHERE webhook_id = ?1 AND status = 'pending' AND next_attempt_at <= ?2
  AND (lease_until IS NULL OR lease_until < ?2)
ORDER BY webhook_id, next_attempt_at LIMIT ?3

-- name: lease
-- Lease the chosen deliveries (a JSON array of ids) to this worker.
UPDATE deliveries SET lease_until = ?1, leased_by = ?2
WHERE id IN (SELECT value FROM json_each(?3))
RETURNING id

-- name: promote_fifo
-- FIFO webhooks: the next delivery in publish order falls due once none of the webhook's is
-- due or retrying (the others wait with no due time).
UPDATE deliveries SET next_attempt_at = ?1
WHERE id IN (
    SELECT (SELECT h.id FROM deliveries AS h
            WHERE h.webhook_id = w.id AND h.status = 'pending' AND h.next_attempt_at IS NULL
            ORDER BY h.event_seq LIMIT 1)
    FROM webhooks AS w
    WHERE w.ordering = 'fifo' AND w.is_active AND NOT EXISTS (
        SELECT 1 FROM deliveries AS a
        WHERE a.webhook_id = w.id AND a.status = 'pending' AND a.next_attempt_at IS NOT NULL)
)

-- name: pacing
-- The rate-limited webhooks: their limit, when their next delivery may start, whether FIFO.
SELECT w.id, w.rate_limit, p.next_at, w.ordering = 'fifo'
FROM webhooks AS w JOIN webhook_pacing AS p ON p.webhook_id = w.id
WHERE w.rate_limit IS NOT NULL AND w.is_active

-- name: due_count
-- How many of one webhook's deliveries are due and free now.
SELECT count(*) FROM deliveries
WHERE webhook_id = ?1 AND status = 'pending' AND next_attempt_at <= ?2
  AND (lease_until IS NULL OR lease_until < ?2)

-- name: promote_waiting
-- Make due the first ``?3`` of a rate-limited webhook's waiting deliveries, in publish order.
UPDATE deliveries SET next_attempt_at = ?2
WHERE id IN (
    SELECT id FROM deliveries
    WHERE webhook_id = ?1 AND status = 'pending' AND next_attempt_at IS NULL
    ORDER BY event_seq LIMIT ?3
)

-- name: set_pacing
-- When a rate-limited webhook's next delivery may start, after a claim took slots.
UPDATE webhook_pacing SET next_at = ?2 WHERE webhook_id = ?1

-- name: claimed
-- What a worker needs to send each leased delivery (a JSON array of ids).
SELECT d.id, d.team_id, d.event_id, d.event_type, d.webhook_id, d.attempts,
       d.retry_index, e.payload, e.request_id, w.url, w.is_active,
       w.secret_ciphertext, w.previous_secret_ciphertext, w.previous_secret_expires_at,
       w.signature_scheme, w.headers_ciphertext, w.timeout_seconds
FROM deliveries AS d
JOIN events AS e ON e.id = d.event_id
JOIN webhooks AS w ON w.id = d.webhook_id
WHERE d.id IN (SELECT value FROM json_each(?1))

-- name: ours
-- Which of a batch's deliveries this worker still holds, and at which attempt.
SELECT id, attempts FROM deliveries
WHERE leased_by = ?1 AND id IN (SELECT value FROM json_each(?2))

-- name: record_health
-- One webhook's health after a batch of attempts (``health_rows``).
UPDATE webhooks SET
    consecutive_failures = CASE WHEN ?2 THEN ?3 ELSE consecutive_failures + ?4 END,
    failing_since = CASE WHEN ?2 THEN ?5 ELSE coalesce(failing_since, ?6) END,
    last_delivery_at = ?7, last_delivery_status = ?8, last_delivery_success = ?9
WHERE id = ?1

-- name: insert_attempts
-- A batch's attempts, one row each.
INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at, duration_ms,
    status_code, success, error, url, request_headers, response_body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: update_deliveries
-- Each attempted delivery's new state, its lease released; only while this worker
-- holds it.
UPDATE deliveries SET status = ?, attempts = ?, retry_index = ?, next_attempt_at = ?,
    lease_until = NULL, leased_by = NULL, last_status_code = ?, last_error = ?,
    updated_at = ?, completed_at = ?
WHERE id = ? AND leased_by = ?

-- name: add_stats
-- A batch's share of each (webhook, hour)'s statistics (``stats_rows``), added.
INSERT INTO delivery_stats (webhook_id, hour, succeeded, retrying, failed,
    latency_le_10ms, latency_le_25ms, latency_le_50ms, latency_le_100ms,
    latency_le_250ms, latency_le_500ms, latency_le_1000ms, latency_le_2500ms,
    latency_le_5000ms, latency_le_10000ms, latency_over_10000ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (webhook_id, hour) DO UPDATE SET
    succeeded = succeeded + excluded.succeeded,
    retrying = retrying + excluded.retrying,
    failed = failed + excluded.failed,
    latency_le_10ms = latency_le_10ms + excluded.latency_le_10ms,
    latency_le_25ms = latency_le_25ms + excluded.latency_le_25ms,
    latency_le_50ms = latency_le_50ms + excluded.latency_le_50ms,
    latency_le_100ms = latency_le_100ms + excluded.latency_le_100ms,
    latency_le_250ms = latency_le_250ms + excluded.latency_le_250ms,
    latency_le_500ms = latency_le_500ms + excluded.latency_le_500ms,
    latency_le_1000ms = latency_le_1000ms + excluded.latency_le_1000ms,
    latency_le_2500ms = latency_le_2500ms + excluded.latency_le_2500ms,
    latency_le_5000ms = latency_le_5000ms + excluded.latency_le_5000ms,
    latency_le_10000ms = latency_le_10000ms + excluded.latency_le_10000ms,
    latency_over_10000ms = latency_over_10000ms + excluded.latency_over_10000ms

-- name: next_due
-- The earliest delivery not yet due. What is due and was not claimed waits for room (a
-- finishing send pokes the dispatcher) or for another worker's lease.
SELECT min(next_attempt_at) FROM deliveries
WHERE status = 'pending' AND next_attempt_at > ?
