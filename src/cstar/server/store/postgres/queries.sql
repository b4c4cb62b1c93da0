-- PostgreSQL's own statements, run through the driver (``store/postgres/backend.py``).
-- Most are hot ones (publish, the cycle, next due):
-- plain SQL, not SQLAlchemy, as they run thousands of times a second, and SQLAlchemy's
-- statement and row processing cost more than the delivery itself (``store/backend.py``).
-- Parameters are ``$N``; lists travel as arrays.

-- name: insert_events
-- Events from arrays, numbered (``seq``) in the order given.
INSERT INTO events (id, team_id, type, payload, request_id, is_test, created_at)
SELECT id, team_id, type, payload, request_id, is_test, created_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],
            $7::timestamptz[])
     WITH ORDINALITY AS t(id, team_id, type, payload, request_id, is_test, created_at, ord)
ORDER BY ord

-- name: fan_out
-- Every event's deliveries in one statement: one per event and subscribed active webhook.
-- A FIFO or rate-limited webhook's wait with no due time, numbered by their event (the claim
-- makes them due in turn).
INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, attempts,
    retry_index, next_attempt_at, created_at, updated_at, event_seq)
SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), i.team_id, i.id, w.id,
       i.type, 'pending', 0, 0,
       CASE WHEN w.ordering = 'fifo' OR w.rate_limit IS NOT NULL THEN NULL ELSE i.now END,
       i.now, i.now,
       CASE WHEN w.ordering = 'fifo' OR w.rate_limit IS NOT NULL
            THEN (SELECT e.seq FROM events AS e WHERE e.id = i.id) END
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
            $6::text[], $7::text[])
     AS i(id, team_id, type, now, exact, resource, everything)
JOIN webhooks AS w ON w.team_id = i.team_id AND w.is_active
WHERE w.id IN (
    SELECT webhook_id FROM webhook_subscriptions AS s
    WHERE s.team_id = i.team_id AND s.pattern IN (i.exact, i.resource, i.everything)
)
RETURNING event_id, id, webhook_id

-- name: cycle
-- Record a batch of attempts and claim in one call of ``cstar_cycle`` (created by the
-- migrations, written out in ``functions.sql``): one round trip, one transaction.
SELECT * FROM cstar_cycle(
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
    $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34,
    $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50,
    $51, $52, $53, $54
)

-- name: next_due
-- The earliest delivery not yet due (see the SQLite file's ``next_due``).
SELECT min(next_attempt_at) FROM deliveries
WHERE status = 'pending' AND next_attempt_at > $1

-- name: lock_request_log_inserts
-- Held while a batch of request log entries is inserted, until the transaction ends: batches
-- commit in the order their ids were drawn.
SELECT pg_advisory_xact_lock($1)

-- name: fresh_keys
-- How many of a batch's idempotency keys are already held by an event newer than the
-- window's start (each such publish is a replay, answered on its own).
SELECT count(*) FROM idempotency_keys AS k
JOIN unnest($1::text[], $2::text[], $3::timestamptz[]) AS i(team_id, key, since)
  ON k.team_id = i.team_id AND k.key = i.key
WHERE k.created_at >= i.since

-- name: claim_keys
-- A batch's idempotency keys for its events; a stale key (older than $5) is taken over.
-- Returns the keys claimed: fewer than given means another transaction holds one.
INSERT INTO idempotency_keys (team_id, key, event_id, created_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (team_id, key) DO UPDATE
    SET event_id = excluded.event_id, created_at = excluded.created_at
    WHERE idempotency_keys.created_at < $5
RETURNING key

-- name: add_partitions
-- The day partitions of the attempts from $1 to $2 that do not exist yet
-- (``cstar_add_partitions``, created by migration 0013).
SELECT cstar_add_partitions($1::date, $2::date)

-- name: expired_partition_days
-- The days whose partitions of ``delivery_attempts`` ended at or before $1, oldest first.
SELECT day FROM (
    SELECT to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD') AS day
    FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'delivery_attempts'::regclass
      AND c.relname ~ '^delivery_attempts_p[0-9]{8}$'
) AS p
WHERE p.day + 1 <= ($1::timestamptz AT TIME ZONE 'UTC')::date
ORDER BY day

-- name: drop_partition
-- One day's partition of the attempts, dropped, waiting at most $2 for the table's lock
-- (``cstar_drop_partition``): whether there was one.
SELECT cstar_drop_partition($1::date, $2::text)
