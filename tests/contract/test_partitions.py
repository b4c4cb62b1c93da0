"""Attempts in day partitions (migration 0013): on PostgreSQL each attempt lives in the partition
of the UTC day it started, made ahead of time, and the retention drops whole days of attempts;
deliveries and events (and attempts outside any dropped day) are purged row by row, as on
SQLite."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.postgres import backend as pg_backend
from cstar.server.store.schema import deliveries, delivery_attempts, events

OLD = timedelta(days=40)
RETENTION = timedelta(days=30)


async def seed_day(
    container: Container, at: datetime, *, count: int, attempts: int, status: str = "succeeded"
) -> None:
    """``count`` events of the moment ``at``, each with one delivery of ``status`` and
    ``attempts`` attempts, all started at ``at``."""
    team = await container.teams.create_team(f"Day {at:%Y%m%d} {status}")
    hook = await container.webhooks.create(
        team.team.id, WebhookDraft(name="h", url="https://example.com/h", events="*")
    )
    tag = f"{at:%Y%m%d}_{status}"
    sqlite = container.database.dialect == "sqlite"
    base_seq = int(time.time() * 1000) % 10_000_000 * 100
    finished = status in ("succeeded", "failed")

    def write(conn: Any) -> None:
        conn.execute(
            events.insert(),
            [
                {
                    "id": f"evt_{tag}_{n}",
                    "team_id": team.team.id,
                    "type": "ticket.created",
                    "payload": "{}",
                    "is_test": False,
                    "created_at": at,
                    **({"seq": base_seq + n} if sqlite else {}),
                }
                for n in range(count)
            ],
        )
        conn.execute(
            deliveries.insert(),
            [
                {
                    "id": f"dlv_{tag}_{n}",
                    "team_id": team.team.id,
                    "event_id": f"evt_{tag}_{n}",
                    "webhook_id": hook.webhook.id,
                    "event_type": "ticket.created",
                    "status": status,
                    "attempts": attempts,
                    "retry_index": attempts,
                    "next_attempt_at": None if finished else at,
                    "created_at": at,
                    "updated_at": at,
                    "completed_at": at if finished else None,
                }
                for n in range(count)
            ],
        )
        conn.execute(
            delivery_attempts.insert(),
            [
                {
                    "delivery_id": f"dlv_{tag}_{n}",
                    "webhook_id": hook.webhook.id,
                    "attempt": a + 1,
                    "started_at": at,
                    "duration_ms": 3,
                    "status_code": 200,
                    "success": True,
                    "url": "https://example.com/h",
                    "request_headers": {},
                }
                for n in range(count)
                for a in range(attempts)
            ],
        )

    await container.database.write(write)


async def count(container: Container, table: sa.Table) -> int:
    statement = sa.select(sa.func.count()).select_from(table)
    return int(await container.database.read(lambda conn: conn.scalar(statement)) or 0)


async def partitions(container: Container) -> set[str]:
    query = sa.text(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'delivery_attempts'::regclass"
    )
    return set(await container.database.read(lambda conn: list(conn.scalars(query))))


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def partition_of(moment: datetime) -> str:
    return f"delivery_attempts_p{day_of(moment):%Y%m%d}"


async def purge(container: Container) -> int:
    now = container.clock()
    return await container.delivery_store.purge(
        completed_before=now - RETENTION, idempotency_before=now - timedelta(hours=24)
    )


# -- both databases ----------------------------------------------------------------------------


async def test_old_history_is_purged_and_recent_history_kept(container: Container) -> None:
    now = container.clock()
    await seed_day(container, now - OLD, count=20, attempts=3)
    await seed_day(container, now - timedelta(days=2), count=4, attempts=1)
    await container.delivery_store.add_partitions(day_of(now))

    assert await purge(container) == 20

    assert await count(container, deliveries) == 4
    assert await count(container, delivery_attempts) == 4
    assert await count(container, events) == 4


async def test_an_old_delivery_still_owed_is_kept(container: Container) -> None:
    now = container.clock()
    await seed_day(container, now - OLD, count=6, attempts=2)
    await seed_day(container, now - OLD, count=2, attempts=1, status="pending")
    await seed_day(container, now - OLD, count=1, attempts=1, status="paused")

    assert await purge(container) == 6

    assert await count(container, deliveries) == 3
    assert await count(container, events) == 3


# -- PostgreSQL's partitions -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgres"])
async def test_migration_makes_today_and_the_next_days(container: Container) -> None:
    today = datetime.now(UTC).date()
    names = await partitions(container)
    assert "delivery_attempts_default" in names
    for day in (today, today + timedelta(days=1), today + timedelta(days=2)):
        assert f"delivery_attempts_p{day:%Y%m%d}" in names


@pytest.mark.parametrize("backend", ["postgres"])
async def test_adding_partitions_is_idempotent_and_concurrent_callers_agree(
    container: Container,
) -> None:
    far = date(2031, 3, 1)
    store = container.delivery_store
    await asyncio.gather(*(store.add_partitions(far) for _ in range(4)))
    await store.add_partitions(far)
    names = await partitions(container)
    for n in range(3):
        assert f"delivery_attempts_p{far + timedelta(days=n):%Y%m%d}" in names
    assert f"delivery_attempts_p{far + timedelta(days=3):%Y%m%d}" not in names


@pytest.mark.parametrize("backend", ["postgres"])
async def test_an_old_day_of_attempts_is_dropped_whole(container: Container) -> None:
    now = container.clock()
    old = now - OLD
    await container.delivery_store.add_partitions(day_of(old))
    await seed_day(container, old, count=50, attempts=3)
    await seed_day(container, old, count=1, attempts=2, status="paused")
    await seed_day(container, now, count=2, attempts=1)
    assert partition_of(old) in await partitions(container)
    assert await count(container, delivery_attempts) == 154

    assert await purge(container) == 50

    assert partition_of(old) not in await partitions(container)
    assert container.delivery_store.purged_attempt_days >= 1
    # The attempts are the log: the day went whole, the paused delivery stays (owed).
    assert await count(container, delivery_attempts) == 2
    assert await count(container, deliveries) == 3
    assert await count(container, events) == 3


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_day_in_use_is_left_to_the_next_purge_without_waiting(
    container: Container, pg_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = container.clock()
    old = now - OLD
    await container.delivery_store.add_partitions(day_of(old))
    await seed_day(container, old, count=5, attempts=1)
    await seed_day(container, now, count=1, attempts=1)
    reader = await asyncpg.connect(pg_database.replace("postgresql://", "postgres://", 1))
    try:
        # A long read of the attempts holds its lock until it ends.
        tx = reader.transaction()
        await tx.start()
        await reader.fetch(f"SELECT count(*) FROM {partition_of(old)}")
        began = time.perf_counter()
        with caplog.at_level(logging.INFO, logger=pg_backend.__name__):
            removed = await purge(container)
        took = time.perf_counter() - began
        await tx.rollback()
    finally:
        await reader.close()
    assert took < 5.0
    assert "busy" in caplog.text
    assert partition_of(old) in await partitions(container)
    # The old history went row by row meanwhile (a reader does not stop deletes), and the
    # empty day goes at the next purge.
    assert removed == 5
    assert await count(container, delivery_attempts) == 1
    await purge(container)
    assert partition_of(old) not in await partitions(container)


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_day_without_a_partition_lands_in_the_default_one(container: Container) -> None:
    far = datetime(2033, 7, 4, 12, tzinfo=UTC)
    await seed_day(container, far, count=3, attempts=1)
    in_default = await container.database.read(
        lambda conn: conn.scalar(sa.text("SELECT count(*) FROM delivery_attempts_default"))
    )
    assert in_default == 3
    # That day never gets a partition while the default one holds its rows.
    await container.delivery_store.add_partitions(far.date())
    names = await partitions(container)
    assert partition_of(far) not in names
    assert partition_of(far + timedelta(days=1)) in names


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_failing_partition_drop_fails_the_purge_loudly(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anything but a busy table is an error the dispatcher logs (``purge_once``)."""
    now = container.clock()
    await container.delivery_store.add_partitions(day_of(now - OLD))
    monkeypatch.setattr(pg_backend, "PARTITION_LOCK_WAIT", "not a duration")
    with pytest.raises(Exception, match="lock_timeout"):
        await purge(container)
