"""The retention purge holds the writer briefly: it deletes in transactions sized to take about
``PURGE_HOLD_TARGET`` each (SQLite has a single writer that publishes and the dispatcher's cycle
wait behind), and pauses between them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store import deliveries as store_module
from cstar.server.store.deliveries import ChunkSizer
from cstar.server.store.schema import deliveries, delivery_attempts, events


def test_chunk_sizer_grows_when_fast_and_shrinks_in_proportion_when_slow() -> None:
    sizer = ChunkSizer(target=0.02, start=64, smallest=1, largest=1000)

    sizer.observe(0.001)
    assert sizer.size == 128
    sizer.observe(0.015)  # near the target: kept
    assert sizer.size == 128
    sizer.observe(0.08)  # four times too long: a quarter, with a margin
    assert sizer.size == int(128 * 0.02 / 0.08 * 0.8)
    for _ in range(30):
        sizer.observe(10.0)
    assert sizer.size == 1
    for _ in range(30):
        sizer.observe(0.0)
    assert sizer.size == 1000


async def seed_old(container: Container, count: int, attempts: int) -> None:
    team = await container.teams.create_team("Old history")
    hook = await container.webhooks.create(
        team.team.id, WebhookDraft(name="h", url="https://example.com/h", events="*")
    )
    old = container.clock() - timedelta(days=40)
    # PostgreSQL numbers events itself (an identity); SQLite's publish does, so here we do.
    sqlite = container.database.dialect == "sqlite"

    def write(conn: Any) -> None:
        conn.execute(
            events.insert(),
            [
                {
                    "id": f"evt_old_{n}",
                    "team_id": team.team.id,
                    "type": "ticket.created",
                    "payload": "{}",
                    "is_test": False,
                    "created_at": old,
                    **({"seq": n + 1} if sqlite else {}),
                }
                for n in range(count)
            ],
        )
        conn.execute(
            deliveries.insert(),
            [
                {
                    "id": f"dlv_old_{n}",
                    "team_id": team.team.id,
                    "event_id": f"evt_old_{n}",
                    "webhook_id": hook.webhook.id,
                    "event_type": "ticket.created",
                    "status": "succeeded",
                    "attempts": attempts,
                    "retry_index": attempts,
                    "created_at": old,
                    "updated_at": old,
                    "completed_at": old,
                }
                for n in range(count)
            ],
        )
        conn.execute(
            delivery_attempts.insert(),
            [
                {
                    "delivery_id": f"dlv_old_{n}",
                    "webhook_id": hook.webhook.id,
                    "attempt": a + 1,
                    "started_at": old,
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
    # A fresh event: the newest one always stays (see the purge).
    await container.events.publish(team.team.id, "ticket.created", {"n": "new"})


async def rows(container: Container, table: sa.Table) -> int:
    statement = sa.select(sa.func.count()).select_from(table)
    return int(await container.database.read(lambda conn: conn.scalar(statement)) or 0)


async def test_a_slow_purge_is_cut_into_small_transactions(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_old(container, count=120, attempts=3)
    # Every transaction "takes too long": the chunks shrink to one event each.
    monkeypatch.setattr(store_module, "PURGE_HOLD_TARGET", 1e-9)
    monkeypatch.setattr(store_module, "PURGE_FIRST_CHUNK", 32)
    now = container.clock()
    store = container.delivery_store

    removed = await store.purge(
        completed_before=now - timedelta(days=30), idempotency_before=now - timedelta(hours=24)
    )

    assert removed == 120
    assert await rows(container, delivery_attempts) == 0
    assert await rows(container, events) == 1
    # 32 first, then one event per transaction once the sizer learnt they are all "slow".
    assert store.purge_transactions >= 120 - 32
    assert 0 < store.purge_longest_hold < 5.0


async def test_a_fast_purge_takes_few_transactions(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_old(container, count=300, attempts=2)
    # Every transaction "is quick": each one takes twice as many events as the last.
    monkeypatch.setattr(store_module, "PURGE_HOLD_TARGET", 60.0)
    now = container.clock()
    store = container.delivery_store

    removed = await store.purge(
        completed_before=now - timedelta(days=30), idempotency_before=now - timedelta(hours=24)
    )

    assert removed == 300
    assert await rows(container, delivery_attempts) == 0
    # Events: 8, 16, 32, 64, 128, then the last 52 of 256; then one for expired keys and one
    # for statistics.
    assert store.purge_transactions == 8


async def test_expired_idempotency_keys_go_in_small_chunks_and_fresh_ones_stay(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cstar.server.store.schema import idempotency_keys

    team = await container.teams.create_team("Keys")
    fresh = await container.events.publish(
        team.team.id, "ticket.created", {"n": 0}, idempotency_key="fresh"
    )
    old = container.clock() - timedelta(hours=30)

    def write(conn: Any) -> None:
        conn.execute(
            idempotency_keys.insert(),
            [
                {
                    "team_id": team.team.id,
                    "key": f"old-{n}",
                    "event_id": fresh.event.id,
                    "created_at": old,
                }
                for n in range(40)
            ],
        )

    await container.database.write(write)
    monkeypatch.setattr(store_module, "PURGE_HOLD_TARGET", 1e-9)  # one row per transaction
    monkeypatch.setattr(store_module, "PURGE_FIRST_CHUNK", 4)
    now = container.clock()
    store = container.delivery_store

    await store.purge(
        completed_before=now - timedelta(days=30), idempotency_before=now - timedelta(hours=24)
    )

    remaining = await container.database.read(
        lambda conn: list(conn.scalars(sa.select(idempotency_keys.c.key)))
    )
    assert remaining == ["fresh"]
    assert store.purge_transactions >= 40 - 4
