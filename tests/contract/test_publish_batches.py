"""Concurrent publishes share transactions on both backends (PostgreSQL through the batcher,
SQLite through its writer thread): every event is stored once, numbered in the order it was
submitted, fanned out to exactly its subscribers, and a bad publish in a batch fails alone."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

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
    # Both backends group publishes without a key (SQLite: one writer job per group).
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


async def publish_keyed(
    container: Container, event: Event, key: str, since: datetime | None = None
) -> PublishOutcome:
    now = container.clock()
    return await container.delivery_store.publish(
        event,
        patterns=catalog.patterns_matching(event.type),
        idempotency_key=key,
        idempotency_since=since if since is not None else now - timedelta(hours=24),
        now=now,
    )


async def event_count(container: Container, team_id: str) -> int:
    def count(conn: sa.Connection) -> int:
        found = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE team_id = :t"), {"t": team_id}
        ).scalar()
        return int(found or 0)

    return await container.database.read(count)


async def test_concurrent_keyed_publishes_are_each_stored_once(
    container: Container, team: CreatedTeam
) -> None:
    hook = await make_webhook(container, team, "https://example.com/a", events="*")
    built = [await build(container, team.team.id, "ticket.created", n) for n in range(100)]
    outcomes = await asyncio.gather(
        *(publish_keyed(container, e, f"key-{n}") for n, e in enumerate(built))
    )
    assert [o.event.id for o in outcomes] == [e.id for e in built]
    assert not any(o.replayed for o in outcomes)
    assert all([q.webhook_id for q in o.queued] == [hook.webhook.id] for o in outcomes)
    assert await event_count(container, team.team.id) == 100
    again = await asyncio.gather(
        *(publish_keyed(container, e, f"key-{n}") for n, e in enumerate(built[:10]))
    )
    assert all(o.replayed for o in again)
    assert [o.event.id for o in again] == [e.id for e in built[:10]]
    assert await event_count(container, team.team.id) == 100
    if container.database.dialect == "postgresql":
        keyed = container.delivery_store.keyed_publish_batches
        assert keyed.batches >= 1
        assert keyed.batched >= 50


async def test_a_batch_with_a_replay_a_repeated_key_and_a_stale_key_answers_each_right(
    container: Container, team: CreatedTeam
) -> None:
    await make_webhook(container, team, "https://example.com/a", events="*")
    first = await publish_keyed(
        container, await build(container, team.team.id, "ticket.created", 0), "seen"
    )
    old = await publish_keyed(
        container, await build(container, team.team.id, "ticket.created", 1), "stale"
    )
    # A window that starts after "stale" was claimed: that key is free to take over.
    after_old = container.clock() + timedelta(milliseconds=1)
    await asyncio.sleep(0.01)
    fresh = [await build(container, team.team.id, "ticket.created", n) for n in range(2, 12)]
    twice = [await build(container, team.team.id, "ticket.created", n) for n in (12, 13)]
    retaken = await build(container, team.team.id, "ticket.created", 14)
    blocker = asyncio.create_task(
        publish_keyed(container, await build(container, team.team.id, "ticket.created", 15), "b")
    )
    await asyncio.sleep(0)  # the rest queue behind it, together
    seen_again = await build(container, team.team.id, "ticket.created", 16)
    answers = await asyncio.gather(
        publish_keyed(container, seen_again, "seen"),
        *(publish_keyed(container, e, f"fresh-{n}") for n, e in enumerate(fresh)),
        publish_keyed(container, twice[0], "twice"),
        publish_keyed(container, twice[1], "twice"),
        publish_keyed(container, retaken, "stale", since=after_old),
    )
    await blocker
    replay, rest = answers[0], answers[1:]
    assert replay.replayed
    assert replay.event.id == first.event.id
    assert [o.event.id for o in rest[:10]] == [e.id for e in fresh]
    assert not any(o.replayed for o in rest[:10])
    # The same key twice at once: one is stored, the other answers as its replay (which one
    # wins is the database's race when the batch falls back to publishing each alone).
    one, other = rest[10], rest[11]
    assert one.event.id == other.event.id
    assert one.event.id in {twice[0].id, twice[1].id}
    assert sorted([one.replayed, other.replayed]) == [False, True]
    took_over = rest[12]
    assert not took_over.replayed
    assert took_over.event.id == retaken.id != old.event.id
    # seen, stale, the blocker, ten fresh, one of "twice", the stale key's new event.
    assert await event_count(container, team.team.id) == 2 + 1 + 10 + 1 + 1


async def test_a_batch_takes_over_a_stale_key_in_one_transaction(
    container: Container, team: CreatedTeam
) -> None:
    await make_webhook(container, team, "https://example.com/a", events="*")
    old = await publish_keyed(
        container, await build(container, team.team.id, "ticket.created", 0), "stale"
    )
    await asyncio.sleep(0.01)
    since = container.clock()  # every item's window starts after "stale" was claimed
    built = [await build(container, team.team.id, "ticket.created", n) for n in range(1, 21)]
    keys = ["alone", "stale", *(f"new-{n}" for n in range(18))]
    batched_before = container.delivery_store.keyed_publish_batches.batched
    blocker = asyncio.create_task(publish_keyed(container, built[0], keys[0], since))
    await asyncio.sleep(0)  # the 19 others queue behind it, "stale" among them
    rest = await asyncio.gather(
        *(publish_keyed(container, e, k, since) for e, k in zip(built[1:], keys[1:], strict=True))
    )
    assert not (await blocker).replayed
    assert not any(o.replayed for o in rest)
    taken = rest[0]
    assert taken.event.id == built[1].id != old.event.id
    assert await event_count(container, team.team.id) == 21
    replay = await publish_keyed(
        container, await build(container, team.team.id, "ticket.created", 99), "stale"
    )
    assert replay.replayed
    assert replay.event.id == built[1].id
    if container.database.dialect == "postgresql":
        # The 19 behind the first went together, in one transaction.
        assert container.delivery_store.keyed_publish_batches.batched - batched_before == 19
