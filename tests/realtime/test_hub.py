"""The tail that feeds streams: order across out-of-order commits, holes, slow subscribers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cstar.server.bootstrap import Container
from cstar.server.dispatch.wakeup import Waker
from cstar.server.realtime.hub import EventHub, StreamLimits, Subscriber
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.channels import EVENTS_CHANNEL
from cstar.server.store.event_log import LoggedEvent, SqlEventLog
from cstar.server.store.key_status import SqlKeyStatus

LIMITS = StreamLimits(per_key=10, per_team=10, access_check=60.0)


async def hub_for(container: Container, **options: float) -> EventHub:
    waker = Waker(container.database.dsn, EVENTS_CHANNEL)
    return EventHub(
        SqlEventLog(container.database),
        waker,
        usable_keys=SqlKeyStatus(container.database).usable,
        limits=LIMITS,
        poll_interval=0.05,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def hubs() -> AsyncIterator[list[EventHub]]:
    made: list[EventHub] = []
    yield made
    for hub in made:
        await hub.close()
        await hub._waker.close()


async def take(subscriber: Subscriber, count: int, timeout: float = 5.0) -> list[LoggedEvent]:
    got: list[LoggedEvent] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            item = await subscriber.queue.get()
            assert item is not None
            got.append(item)
    return got


async def test_a_slow_subscriber_is_ended_not_buffered_forever(
    container: Container, team: CreatedTeam, hubs: list[EventHub]
) -> None:
    hub = await hub_for(container, queue_limit=3)
    hubs.append(hub)
    slow, _ = await hub.subscribe(team.team.id, "key_any", None)
    for n in range(5):
        await container.events.publish(team.team.id, "customer.created", {"n": n})
    async with asyncio.timeout(5):
        while not slow.ended:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert slow.overflowed
    assert [slow.queue.get_nowait() is None for _ in range(4)] == [False, False, False, True]
    assert hub.subscriber_count == 0


async def _hold_an_insert(dsn: str, team_id: str) -> tuple[asyncpg.Connection, object]:
    """A publish still in flight: its event row inserted (numbered) but not committed."""
    conn = await asyncpg.connect(dsn)
    transaction = conn.transaction()
    await transaction.start()
    await conn.execute(
        "INSERT INTO events (id, team_id, type, payload, is_test, created_at) "
        "VALUES ('evt_slow', $1, 'customer.created', '{\"id\":\"evt_slow\"}', false, now())",
        team_id,
    )
    return conn, transaction


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_later_commit_waits_for_an_earlier_number_in_flight(
    container: Container, team: CreatedTeam, hubs: list[EventHub]
) -> None:
    hub = await hub_for(container, gap_timeout=30.0)
    hubs.append(hub)
    subscriber, _ = await hub.subscribe(team.team.id, "key_any", None)
    assert container.database.dsn is not None
    conn, transaction = await _hold_an_insert(container.database.dsn, team.team.id)
    try:
        fast = await container.events.publish(team.team.id, "customer.updated", {})
        await asyncio.sleep(0.5)
        assert subscriber.queue.empty()  # held back: number N is still in flight
        await transaction.commit()  # type: ignore[attr-defined]
        got = await take(subscriber, 2)
    finally:
        await conn.close()
    assert next(e.payload for e in got) == '{"id":"evt_slow"}'
    assert got[1].payload == fast.event.payload
    assert got[0].seq < got[1].seq


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_rolled_back_number_is_passed_after_the_gap_timeout(
    container: Container, team: CreatedTeam, hubs: list[EventHub]
) -> None:
    hub = await hub_for(container, gap_timeout=0.6)
    hubs.append(hub)
    subscriber, _ = await hub.subscribe(team.team.id, "key_any", None)
    assert container.database.dsn is not None
    conn, transaction = await _hold_an_insert(container.database.dsn, team.team.id)
    try:
        started = time.monotonic()
        fast = await container.events.publish(team.team.id, "customer.updated", {})
        await transaction.rollback()  # type: ignore[attr-defined]
        (got,) = await take(subscriber, 1)
        waited = time.monotonic() - started
    finally:
        await conn.close()
    assert got.payload == fast.event.payload
    assert 0.5 <= waited < 5
