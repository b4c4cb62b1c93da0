-- cStar's PostgreSQL functions as they are today: what the database holds after the newest
-- migration, written out in full in one place to be read.
--
-- The migrations (src/cstar/server/store/migrations/versions) are what creates them; this file
-- is never executed by the server, and no migration reads it. Each migration is frozen history
-- and restates in full the text it creates (and, for its downgrade, the text it replaces). So a
-- change to a function is a new migration that copies the new text into its own file, and this
-- file is updated to match. tests/contract/test_pg_functions.py checks that they agree: this
-- file against the newest migration's text, and against what an upgraded database holds.
--
-- cstar_cycle: the dispatcher's whole cycle in one call and one transaction (record finished
-- attempts, their statistics and webhook health; deactivate failing webhooks; claim due
-- deliveries, FIFO heads first and rate-limited webhooks paced; report the next due time).
-- Created by migration 0014 (delivery_controls); earlier versions in 0004, 0007, 0008 and 0010.
-- SQLite runs the same steps in store/sqlite/backend.py.

CREATE FUNCTION cstar_cycle(
    worker text, c_now timestamptz,
    h_id text[], h_reset boolean[], h_after int[], h_failures int[], h_since timestamptz[],
    h_first timestamptz[], h_last_at timestamptz[], h_last_status int[], h_last_ok boolean[],
    a_delivery text[], a_webhook text[], a_attempt int[], a_started timestamptz[], a_ms int[],
    a_code int[], a_ok boolean[], a_error text[], a_url text[], a_headers text[], a_body text[],
    s_webhook text[], s_hour timestamptz[], s_succeeded int[], s_retrying int[], s_failed int[],
    s_le_10ms int[], s_le_25ms int[], s_le_50ms int[], s_le_100ms int[], s_le_250ms int[],
    s_le_500ms int[], s_le_1000ms int[], s_le_2500ms int[], s_le_5000ms int[],
    s_le_10000ms int[], s_over_10000ms int[],
    d_status text[], d_retry int[], d_next timestamptz[], d_done timestamptz[],
    gone_ids text[], gone_reason text, disable_before timestamptz,
    c_limit int, c_lease_until timestamptz, c_busy_id text[], c_busy_room int[], c_scan int,
    c_per_webhook int, relaxed boolean, c_pace_from timestamptz,
    c_pace_until timestamptz
) RETURNS TABLE (
    kind text, id text, team_id text, event_id text, event_type text, webhook_id text,
    attempts int, retry_index int, payload text, request_id text, url text,
    secret_ciphertext text, previous_secret_ciphertext text,
    previous_secret_expires_at timestamptz, next_due timestamptz,
    signature_scheme text, headers_ciphertext text, timeout_seconds int, send_at timestamptz
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    stale text[];
    disabled text[] := '{}';
    picked text[] := '{}';
    window_size int := 0;
    claimed_count int := 0;
    room_ids text[] := c_busy_id;
    room_sizes int[] := c_busy_room;
    limited_ids text[];
    limited_rooms int[];
    paced_ids text[] := '{}';
    slot_ids text[] := '{}';
    slot_hooks text[] := '{}';
    slot_at timestamptz[] := '{}';
    promote boolean := false;
    lag interval;
    entered timestamptz := clock_timestamp();
BEGIN
    IF relaxed THEN
        -- A claim alone: losing it in a power cut only means its lease is forgotten.
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;

    IF cardinality(a_delivery) > 0 THEN
        -- Lock order, everywhere: webhook rows (by id), then delivery rows (by id). NO KEY
        -- UPDATE, as the updates below would take: it leaves alone the KEY SHARE locks that
        -- foreign key checks take (a publish's new deliveries, another worker's claim), so
        -- those never wait for this cycle, nor it for them.
        PERFORM 1 FROM webhooks AS w WHERE w.id = ANY(h_id) ORDER BY w.id FOR NO KEY UPDATE;
        PERFORM 1 FROM deliveries AS d WHERE d.id = ANY(a_delivery) ORDER BY d.id
            FOR NO KEY UPDATE;

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
                NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::int,
                NULL::timestamptz
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

        -- The same attempts, added to their webhook's statistics for the hour they started in
        -- (one row per webhook and hour, summed by the caller, in (webhook, hour) order). The
        -- webhook rows are locked above, so two cycles never update the same rows at once.
        INSERT INTO delivery_stats AS t (webhook_id, hour, succeeded, retrying, failed,
            latency_le_10ms, latency_le_25ms, latency_le_50ms, latency_le_100ms,
            latency_le_250ms, latency_le_500ms, latency_le_1000ms, latency_le_2500ms,
            latency_le_5000ms, latency_le_10000ms, latency_over_10000ms)
        SELECT u.w, u.h, u.ok, u.retry, u.fail, u.b1, u.b2, u.b3, u.b4, u.b5, u.b6, u.b7, u.b8,
               u.b9, u.b10, u.b11
        FROM unnest(s_webhook, s_hour, s_succeeded, s_retrying, s_failed, s_le_10ms, s_le_25ms,
                    s_le_50ms, s_le_100ms, s_le_250ms, s_le_500ms, s_le_1000ms, s_le_2500ms,
                    s_le_5000ms, s_le_10000ms, s_over_10000ms)
             AS u(w, h, ok, retry, fail, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11)
        ON CONFLICT ON CONSTRAINT pk_delivery_stats DO UPDATE SET
            succeeded = t.succeeded + excluded.succeeded,
            retrying = t.retrying + excluded.retrying,
            failed = t.failed + excluded.failed,
            latency_le_10ms = t.latency_le_10ms + excluded.latency_le_10ms,
            latency_le_25ms = t.latency_le_25ms + excluded.latency_le_25ms,
            latency_le_50ms = t.latency_le_50ms + excluded.latency_le_50ms,
            latency_le_100ms = t.latency_le_100ms + excluded.latency_le_100ms,
            latency_le_250ms = t.latency_le_250ms + excluded.latency_le_250ms,
            latency_le_500ms = t.latency_le_500ms + excluded.latency_le_500ms,
            latency_le_1000ms = t.latency_le_1000ms + excluded.latency_le_1000ms,
            latency_le_2500ms = t.latency_le_2500ms + excluded.latency_le_2500ms,
            latency_le_5000ms = t.latency_le_5000ms + excluded.latency_le_5000ms,
            latency_le_10000ms = t.latency_le_10000ms + excluded.latency_le_10000ms,
            latency_over_10000ms = t.latency_over_10000ms + excluded.latency_over_10000ms;

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
            NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::int,
            NULL::timestamptz
        FROM unnest(disabled) AS x;
    END IF;

    IF c_limit > 0 THEN
        -- Waiting deliveries are made due by one worker at a time: another that is at it
        -- meanwhile is left to it (so the workers never wait for each other's rows here).
        promote := pg_try_advisory_xact_lock(1668305265);
    END IF;
    IF promote THEN
        -- FIFO webhooks: the next delivery in publish order falls due once none of the
        -- webhook's is due or retrying (the others wait with no due time).
        UPDATE deliveries AS d SET next_attempt_at = c_now
        FROM (
            SELECT (SELECT h.id FROM deliveries AS h
                    WHERE h.webhook_id = w.id AND h.status = 'pending'
                      AND h.next_attempt_at IS NULL
                    ORDER BY h.event_seq LIMIT 1) AS id
            FROM webhooks AS w
            WHERE w.ordering = 'fifo' AND w.is_active AND NOT EXISTS (
                SELECT 1 FROM deliveries AS a
                WHERE a.webhook_id = w.id AND a.status = 'pending'
                  AND a.next_attempt_at IS NOT NULL)
        ) AS head
        WHERE d.id = head.id AND d.status = 'pending' AND d.next_attempt_at IS NULL;
    END IF;

    IF c_limit > 0 THEN
        -- Each webhook's room: what this worker has left of it, and for a rate-limited one no
        -- more than its free slots from c_pace_from (the worker's now plus the time its answers
        -- take to reach it) until c_pace_until (read without a lock: the picks are checked
        -- again under one below).
        SELECT coalesce(array_agg(w.id), '{}'),
               coalesce(array_agg(greatest(0, floor(extract(epoch FROM c_pace_until
                   - greatest(coalesce(p.next_at, c_pace_from), c_pace_from))
                   * w.rate_limit)::int + 1)), '{}')
        INTO limited_ids, limited_rooms
        FROM webhooks AS w JOIN webhook_pacing AS p ON p.webhook_id = w.id
        WHERE w.rate_limit IS NOT NULL AND w.is_active;
        IF cardinality(limited_ids) > 0 AND promote THEN
            -- A rate-limited webhook's deliveries wait with no due time too (unseen by the
            -- window however long its backlog): as many fall due as it has free slots, less
            -- those already due.
            UPDATE deliveries AS d SET next_attempt_at = c_now
            FROM (
                SELECT l.webhook_id, l.room - (
                    SELECT count(*) FROM deliveries AS x
                    WHERE x.webhook_id = l.webhook_id AND x.status = 'pending'
                      AND x.next_attempt_at <= c_now
                      AND (x.lease_until IS NULL OR x.lease_until < c_now))::int AS wanted
                FROM unnest(limited_ids, limited_rooms) AS l(webhook_id, room)
                JOIN webhooks AS w ON w.id = l.webhook_id AND w.ordering <> 'fifo'
                WHERE l.room > 0
            ) AS g
            CROSS JOIN LATERAL (
                SELECT h.id FROM deliveries AS h
                WHERE h.webhook_id = g.webhook_id AND h.status = 'pending'
                  AND h.next_attempt_at IS NULL
                ORDER BY h.event_seq LIMIT greatest(g.wanted, 0)
            ) AS pick
            WHERE d.id = pick.id AND d.status = 'pending' AND d.next_attempt_at IS NULL;
        END IF;
        IF cardinality(limited_ids) > 0 THEN
            SELECT coalesce(array_agg(r.webhook_id), '{}'),
                   coalesce(array_agg(least(r.room, c_per_webhook)), '{}')
            INTO room_ids, room_sizes
            FROM (SELECT u.webhook_id, min(u.room) AS room
                  FROM (SELECT * FROM unnest(c_busy_id, c_busy_room) AS b(webhook_id, room)
                        UNION ALL
                        SELECT * FROM unnest(limited_ids, limited_rooms) AS l(webhook_id, room)
                       ) AS u
                  GROUP BY u.webhook_id) AS r;
        END IF;

        -- The oldest due deliveries, at most each webhook's room, from a bounded window.
        WITH rooms AS (
            SELECT * FROM unnest(room_ids, room_sizes) AS r(webhook_id, room)
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
                SELECT * FROM unnest(room_ids, room_sizes) AS r(webhook_id, room)
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

        IF cardinality(limited_ids) > 0 THEN
            SELECT coalesce(array_agg(d.id), '{}') INTO paced_ids
            FROM deliveries AS d
            WHERE d.id = ANY(picked) AND d.webhook_id = ANY(limited_ids);
        END IF;
        IF cardinality(paced_ids) > 0 THEN
            -- Rate-limited webhooks: under a lock of their pacing (in id order, so workers
            -- take turns), each pick gets the next slot, 1/rate_limit seconds after the one
            -- before; a pick whose slot lies beyond c_pace_until waits for a later claim.
            -- Slots count from c_pace_from, moved on (as c_pace_until is) by the time this
            -- call has taken so far, waiting for locks among it, lest they lie in the past.
            PERFORM 1 FROM webhook_pacing AS p
            WHERE p.webhook_id IN (SELECT d.webhook_id FROM deliveries AS d
                                   WHERE d.id = ANY(paced_ids))
            ORDER BY p.webhook_id FOR UPDATE;
            lag := clock_timestamp() - entered;
            WITH paced AS (
                SELECT d.id, d.webhook_id,
                       greatest(coalesce(p.next_at, c_pace_from + lag), c_pace_from + lag)
                           + (row_number() OVER (PARTITION BY d.webhook_id
                                                 ORDER BY d.next_attempt_at, d.id) - 1)
                             * (interval '1 second' / w.rate_limit) AS at
                FROM deliveries AS d
                JOIN webhooks AS w ON w.id = d.webhook_id
                JOIN webhook_pacing AS p ON p.webhook_id = d.webhook_id
                WHERE d.id = ANY(paced_ids)
            )
            SELECT coalesce(array_agg(s.id), '{}'), coalesce(array_agg(s.webhook_id), '{}'),
                   coalesce(array_agg(s.at), '{}')
            INTO slot_ids, slot_hooks, slot_at
            FROM paced AS s WHERE s.at <= c_pace_until + lag;
            picked := ARRAY(SELECT x FROM unnest(picked) AS x
                            WHERE NOT x = ANY(paced_ids) OR x = ANY(slot_ids));
            UPDATE webhook_pacing AS p
            SET next_at = s.last + (interval '1 second' / w.rate_limit)
            FROM (SELECT u.w, max(u.at) AS last FROM unnest(slot_hooks, slot_at) AS u(w, at)
                  GROUP BY u.w) AS s
            JOIN webhooks AS w ON w.id = s.w
            WHERE p.webhook_id = s.w;
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
               w.previous_secret_ciphertext, w.previous_secret_expires_at, NULL::timestamptz,
               w.signature_scheme::text, w.headers_ciphertext, w.timeout_seconds, s.at
        FROM claimed AS c
        JOIN events AS e ON e.id = c.event_id
        JOIN webhooks AS w ON w.id = c.webhook_id
        LEFT JOIN unnest(slot_ids, slot_at) AS s(id, at) ON s.id = c.id;
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
            WHERE d.status = 'pending' AND d.next_attempt_at > c_now),
           NULL::text, NULL::text, NULL::int, NULL::timestamptz;
END
$fn$;

-- cstar_add_partitions and cstar_drop_partition: the day partitions of delivery_attempts, made
-- ahead of time and dropped after the retention (store/postgres/backend.py). Created by
-- migration 0013.

CREATE FUNCTION cstar_add_partitions(first_day date, last_day date)
RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
    day date := first_day;
    low timestamptz;
    high timestamptz;
    part text;
    added int := 0;
BEGIN
    -- One caller at a time (several workers, each preparing the coming days).
    PERFORM pg_advisory_xact_lock(1668305264);
    WHILE day <= last_day LOOP
        part := 'delivery_attempts_p' || to_char(day, 'YYYYMMDD');
        low := day::timestamp AT TIME ZONE 'UTC';
        high := (day + 1)::timestamp AT TIME ZONE 'UTC';
        -- A day already in the default partition stays there.
        IF to_regclass(part) IS NULL AND NOT EXISTS (
            SELECT 1 FROM delivery_attempts_default AS a
            WHERE a.started_at >= low AND a.started_at < high)
        THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF delivery_attempts FOR VALUES FROM (%L) TO (%L)',
                part, low, high);
            added := added + 1;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN added;
END
$fn$;

CREATE FUNCTION cstar_drop_partition(day date, lock_wait text)
RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
    part text := 'delivery_attempts_p' || to_char(day, 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(1668305264);
    IF to_regclass(part) IS NULL THEN
        RETURN false;
    END IF;
    -- Everyone queues behind a drop that waits for the table: better not to wait.
    PERFORM set_config('lock_timeout', lock_wait, true);
    EXECUTE format('DROP TABLE %I', part);
    RETURN true;
END
$fn$;
