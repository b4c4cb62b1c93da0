"""Concurrent publishes share transactions on both backends (PostgreSQL through the batcher,
SQLite through its writer thread): every event is stored once, numbered in the order it was
submitted, fanned out to exactly its subscribers, and a bad publish in a batch fails alone."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from cstar import events as catalog
from cstar.server.bootstrap import Container
from cstar.server.domain.deliveries import Event
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.contract import PublishOutcome, StoreError
from tests.dispatch.support import make_webhook

COUNT = 200


async def publish_built(container: Container, event: Event) -> PublishOutcome:
    """The store's publish of an event already built: callers reach the store in the order
    they are started, so their submission order is known."""
    now = container.clock()
    return await container.delivery_store.publish(
        event,
        patterns=catalog.patterns_matching(event.type),
        idempotency_key=None,
        idempotency_since=now,
        now=now,
    )


async def build(container: Container, team_id: str, event_type: str, n: int) -> Event:
    return await container.events.build_event(
        team_id, event_type, {"n": n}, request_id=None, is_test=False, now=container.clock()
    )


async def test_concurrent_publishes_are_stored_in_order_with_their_fan_out(
    container: Container, team: CreatedTeam
) -> None:
    tickets = await make_webhook(container, team, "https://example.com/t", events="ticket.*")
    everything = await make_webhook(container, team, "https://example.com/a", events="*")
    await make_webhook(container, team, "https://example.com/c", events="customer.created")
    types = ["ticket.created" if n % 2 else "customer.updated" for n in range(COUNT)]
    built = [await build(container, team.team.id, t, n) for n, t in enumerate(types)]
    outcomes = await asyncio.gather(*(publish_built(container, e) for e in built))
    for event_type, outcome in zip(types, outcomes, strict=True):
        hooks = sorted(q.webhook_id for q in outcome.queued)
        expected = [everything.webhook.id]
        if event_type == "ticket.created":
            expected.append(tickets.webhook.id)
        assert hooks == sorted(expected), event_type
    ids = [o.event.id for o in outcomes]
    assert ids == [e.id for e in built]

    def stored(conn: sa.Connection) -> tuple[list[str], list[tuple[str, str]]]:
        order = conn.execute(
            sa.text("SELECT id FROM events WHERE team_id = :t ORDER BY seq"), {"t": team.team.id}
        )
        pairs = conn.execute(
            sa.text("SELECT event_id, webhook_id FROM deliveries WHERE team_id = :t"),
            {"t": team.team.id},
        )
        return [r[0] for r in order], [(r[0], r[1]) for r in pairs]

    order, pairs = await container.database.read(stored)
    assert order == ids  # numbered in the order they were submitted
    queued = [(o.event.id, q.webhook_id) for o in outcomes for q in o.queued]
    assert sorted(pairs) == sorted(queued)  # each delivery stored once, as answered
    if container.database.dialect == "postgresql":
        batcher = container.delivery_store.publish_batches
        assert batcher.batches >= 1
        assert batcher.batched >= COUNT // 2


async def test_a_publish_that_cannot_be_stored_fails_alone(
    container: Container, team: CreatedTeam
) -> None:
    await make_webhook(container, team, "https://example.com/a", events="*")
    ids = [team.team.id] * 10
    ids[4] = "team_that_does_not_exist"
    # The first publish is written alone; the ten behind it share a batch, which fails on the
    # missing team and is written again item by item.
    built = [await build(container, t, "ticket.created", n) for n, t in enumerate(ids)]
    first = asyncio.create_task(
        publish_built(container, await build(container, team.team.id, "ticket.created", -1))
    )
    await asyncio.sleep(0)
    answers = await asyncio.gather(
        *(publish_built(container, e) for e in built), return_exceptions=True
    )
    await first
    assert isinstance(answers[4], StoreError), answers[4]
    others = [a for n, a in enumerate(answers) if n != 4]
    assert all(not isinstance(a, BaseException) for a in others), others
    total = await container.database.read(
        lambda c: c.exec_driver_sql("SELECT count(*) FROM events").scalar()
    )
    assert total == 10  # the nine beside the bad one, and the first


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_publishes_on_postgresql_share_commits(
    container: Container, team: CreatedTeam
) -> None:
    await make_webhook(container, team, "https://example.com/a", events="*")
    commits: list[int] = []

    def count(_conn: object) -> None:
        commits.append(1)

    engine = container.database.write_engine
    sa.event.listen(engine, "commit", count)
    try:
        await asyncio.gather(
            *(container.events.publish(team.team.id, "ticket.created", {"n": n}) for n in range(64))
        )
    finally:
        sa.event.remove(engine, "commit", count)
    assert len(commits) <= 8, len(commits)
