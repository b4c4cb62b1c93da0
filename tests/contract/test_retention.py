"""Retention: old, finished work is purged; anything still owed is kept, however old."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.events import EventService
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.schema import deliveries, delivery_attempts, events, idempotency_keys


async def count(container: Container, table: sa.Table) -> int:
    return await container.database.read(
        lambda conn: int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
    )


async def test_purge_removes_only_finished_work_older_than_the_retention(
    container: Container,
) -> None:
    team = await container.teams.create_team("Retention")
    await container.webhooks.create(
        team.team.id, WebhookDraft(name="h", url="https://example.com/h", events="*")
    )
    now = container.clock()
    old = now - timedelta(days=40)

    def publisher(moment: object) -> EventService:
        return EventService(
            container.store,
            container.delivery_store,
            container.waker,
            lambda: moment,  # type: ignore[arg-type,return-value]
            dashboard_base_url="https://www.cstar.help",
        )

    done_old = await publisher(old).publish(team.team.id, "ticket.created", {"n": 1})
    owed_old = await publisher(old).publish(team.team.id, "ticket.created", {"n": 2})
    keyed_old = await publisher(old).publish(
        team.team.id, "ticket.created", {"n": 4}, idempotency_key="k-old"
    )
    done_new = await publisher(now).publish(team.team.id, "ticket.created", {"n": 3})
    finished = [done_old, done_new, keyed_old]

    def finish(conn: sa.Connection) -> None:
        for outcome in finished:
            (queued,) = outcome.queued
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id == queued.delivery_id)
                .values(
                    status=DeliveryStatus.SUCCEEDED.value, completed_at=outcome.event.created_at
                )
            )
            conn.execute(
                delivery_attempts.insert().values(
                    delivery_id=queued.delivery_id,
                    webhook_id=queued.webhook_id,
                    attempt=1,
                    started_at=outcome.event.created_at,
                    duration_ms=3,
                    status_code=200,
                    success=True,
                    url="https://example.com/h",
                    request_headers={},
                )
            )

    await container.database.write(finish)
    assert await count(container, events) == 4
    removed = await container.delivery_store.purge(
        completed_before=now - timedelta(days=30), idempotency_before=now - timedelta(hours=24)
    )
    assert removed == 2  # done_old and keyed_old, each with one delivery
    remaining = await container.database.read(
        lambda conn: set(conn.scalars(sa.select(events.c.id)))
    )
    assert remaining == {owed_old.event.id, done_new.event.id}
    assert await count(container, deliveries) == 2
    assert await count(container, delivery_attempts) == 1  # done_new's
    assert await count(container, idempotency_keys) == 0
    again = await container.delivery_store.purge(
        completed_before=now - timedelta(days=30), idempotency_before=now - timedelta(hours=24)
    )
    assert again == 0


async def test_purge_keeps_the_newest_event_so_stream_numbers_never_repeat(
    container: Container,
) -> None:
    """SQLite numbers events MAX(seq) + 1: deleting the newest would hand its number out again
    and a resuming stream would skip the new event."""
    team = await container.teams.create_team("Quiet")
    old = container.clock() - timedelta(days=40)
    publisher = EventService(
        container.store,
        container.delivery_store,
        container.waker,
        lambda: old,
        dashboard_base_url="https://www.cstar.help",
    )
    first = await publisher.publish(team.team.id, "customer.created", {})
    last = await publisher.publish(team.team.id, "customer.created", {})
    now = container.clock()
    await container.delivery_store.purge(
        completed_before=now - timedelta(days=30), idempotency_before=now - timedelta(hours=24)
    )
    remaining = await container.database.read(
        lambda conn: list(conn.execute(sa.select(events.c.id, events.c.seq)))
    )
    assert [row.id for row in remaining] == [last.event.id]
    fresh = await EventService(
        container.store,
        container.delivery_store,
        container.waker,
        container.clock,
        dashboard_base_url="https://www.cstar.help",
    ).publish(team.team.id, "customer.created", {})
    seqs = await container.database.read(
        lambda conn: dict(conn.execute(sa.select(events.c.id, events.c.seq)).all())
    )
    assert seqs[fresh.event.id] > remaining[0].seq
    assert first.event.id not in seqs
