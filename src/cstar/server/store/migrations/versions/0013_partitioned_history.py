"""Delivery attempts in day partitions on PostgreSQL: the retention drops whole days of them.

The retention purge deleted old events, and their deliveries and attempts went with them by
cascade, row by row. Attempts are most of that history (five or more per delivery, each with its
headers and the answer's body): at a million attempts a day, a million index-maintained deletes a
day, each written to the WAL, their dead rows left for vacuum. Now, on PostgreSQL:

* ``delivery_attempts`` is partitioned by range of ``started_at``, one partition per UTC day
  (``delivery_attempts_p20261206``), with the primary key ``(id, started_at)`` that partitioning
  needs (ids stay unique: they come from one sequence). The foreign key to ``deliveries`` stays:
  deleting a delivery still deletes its attempts.
* A ``DEFAULT`` partition takes any attempt of a day without a partition (a clock far ahead, a
  worker stopped for days): an insert never fails for want of one. A day whose attempts are in
  the default partition is not given a partition later; they go with their deliveries.
* ``cstar_add_partitions(first, last)`` creates the days' partitions that do not exist yet; the
  workers call it for today and the next two days when they start and before each purge.
* ``cstar_drop_partition(day, lock_wait)`` drops one day's partition. Attempts are the log: a day
  past the retention goes whole, even where its delivery is still owed (the delivery stays, with
  its count of attempts and its last error). Dropping waits at most ``lock_wait`` for the table's
  lock, and otherwise leaves the day to the next purge rather than stall everyone queued behind.

``deliveries`` is not partitioned: each cycle finds its deliveries by id, and on a partitioned
table every such lookup visits every day (measured: the cycle about twice as slow, and worse
without statistics of the parent table, which autovacuum never gathers). SQLite is unchanged.

Existing attempts are copied into the new table, with a partition for every day they cover.
``downgrade`` copies them back into a plain table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ADD_PARTITIONS = r"""CREATE FUNCTION cstar_add_partitions(first_day date, last_day date)
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
"""

DROP_PARTITION = r"""CREATE FUNCTION cstar_drop_partition(day date, lock_wait text)
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
"""

#: The table as 0012 left it, the columns in the same order.
_COLUMNS = """
    id bigint NOT NULL DEFAULT nextval('delivery_attempts_id_seq'),
    delivery_id varchar(40) NOT NULL,
    webhook_id varchar(40) NOT NULL,
    attempt integer NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    success boolean NOT NULL,
    error text,
    url varchar(2048) NOT NULL,
    request_headers json NOT NULL,
    response_body text
"""
_NAMES = (
    "id, delivery_id, webhook_id, attempt, started_at, duration_ms, status_code, success, "
    "error, url, request_headers, response_body"
)
_KEYS_AND_INDEXES = (
    "ALTER TABLE delivery_attempts ADD CONSTRAINT fk_delivery_attempts_delivery_id_deliveries"
    " FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE",
    "CREATE INDEX ix_delivery_attempts_delivery_id_attempt ON delivery_attempts"
    " (delivery_id, attempt)",
    "ALTER SEQUENCE delivery_attempts_id_seq OWNED BY delivery_attempts.id",
)

UPGRADE_POSTGRES = (
    "ALTER SEQUENCE delivery_attempts_id_seq OWNED BY NONE",
    "ALTER TABLE delivery_attempts RENAME TO delivery_attempts_0012",
    f"CREATE TABLE delivery_attempts ({_COLUMNS}) PARTITION BY RANGE (started_at)",
    "CREATE TABLE delivery_attempts_default PARTITION OF delivery_attempts DEFAULT",
    ADD_PARTITIONS,
    DROP_PARTITION,
    # Every day the attempts cover, through the day after tomorrow (UTC).
    "SELECT cstar_add_partitions(coalesce((SELECT (min(started_at) AT TIME ZONE 'UTC')::date"
    " FROM delivery_attempts_0012), (now() AT TIME ZONE 'UTC')::date),"
    " (now() AT TIME ZONE 'UTC')::date + 2)",
    f"INSERT INTO delivery_attempts ({_NAMES}) SELECT {_NAMES} FROM delivery_attempts_0012",  # noqa: S608
    "DROP TABLE delivery_attempts_0012",
    "ALTER TABLE delivery_attempts ADD CONSTRAINT pk_delivery_attempts"
    " PRIMARY KEY (id, started_at)",
    *_KEYS_AND_INDEXES,
)

DOWNGRADE_POSTGRES = (
    "DROP FUNCTION cstar_add_partitions",
    "DROP FUNCTION cstar_drop_partition",
    "ALTER SEQUENCE delivery_attempts_id_seq OWNED BY NONE",
    "ALTER TABLE delivery_attempts RENAME TO delivery_attempts_0013",
    f"CREATE TABLE delivery_attempts ({_COLUMNS})",
    f"INSERT INTO delivery_attempts ({_NAMES}) SELECT {_NAMES} FROM delivery_attempts_0013",  # noqa: S608
    "DROP TABLE delivery_attempts_0013",
    "ALTER TABLE delivery_attempts ADD CONSTRAINT pk_delivery_attempts PRIMARY KEY (id)",
    *_KEYS_AND_INDEXES,
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE_POSTGRES:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE_POSTGRES:
            op.execute(statement)
