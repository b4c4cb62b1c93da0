"""What a PostgreSQL cycle waits for, and what it must not: a publish in progress, another worker
making waiting deliveries due, and (for a rate-limited webhook's slots) the time it spent
waiting for the lock of that webhook's pace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft
from tests.contract.test_cycle import cycle, failed, hook_with_deliveries, later, request

pytestmark = pytest.mark.parametrize("backend", ["postgres"])

#: The advisory lock a cycle holds while it makes waiting deliveries due (cstar_cycle).
PROMOTING = 1668305265


@pytest.fixture
async def team(container: Container) -> CreatedTeam:
    return await container.teams.create_team("Waits")


@pytest.fixture
async def other_session(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """Another connection to the same database, in a transaction: another worker or a publish."""
    conn = await asyncpg.connect(settings.database_url.replace("postgresql://", "postgres://", 1))
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield conn
    finally:
        await transaction.rollback()
        await conn.close()


async def test_recording_does_not_wait_for_a_publish_in_progress(
    container: Container, team: CreatedTeam, other_session: asyncpg.Connection
) -> None:
    # A publish's new deliveries hold KEY SHARE locks on their webhooks (the foreign key
    # check) until it commits. Recording once locked webhooks FOR UPDATE and queued behind
    # them, while the publish could queue behind the cycle: a deadlock.
    hook = await hook_with_deliveries(container, team, 1)
    now = later()
    (claim,) = (await cycle(container, [], request(now))).claimed
    await other_session.execute("SELECT 1 FROM webhooks WHERE id = $1 FOR KEY SHARE", hook)
    result = await asyncio.wait_for(cycle(container, [failed(claim, now)], None, now=now), 5)
    assert result.stale == 0


async def test_a_cycle_leaves_waiting_deliveries_to_the_worker_already_making_them_due(
    container: Container, team: CreatedTeam, other_session: asyncpg.Connection
) -> None:
    await container.webhooks.create(
        team.team.id,
        WebhookDraft(name="paced", url="https://example.com/p", events="*", rate_limit=10),
    )
    await container.events.publish(team.team.id, "ticket.created", {"n": 1})
    await other_session.execute("SELECT pg_advisory_xact_lock($1)", PROMOTING)
    now = later()
    # Not held up by the other worker, and it made nothing due meanwhile.
    alone = await asyncio.wait_for(cycle(container, [], request(now)), 5)
    assert alone.claimed == []
    await other_session.execute("SELECT pg_advisory_unlock_all()")
    await other_session.execute("ROLLBACK; BEGIN")  # the other worker's cycle is over
    (claimed,) = (await cycle(container, [], request(now))).claimed
    assert claimed.send_at is not None


async def test_slots_count_from_after_the_wait_for_the_pace(
    container: Container, team: CreatedTeam, other_session: asyncpg.Connection
) -> None:
    # A cycle that waits for a webhook's pace (another worker holds it) must not hand out
    # slots from the moment it started: they would be past on arrival, and sent in a burst.
    created = await container.webhooks.create(
        team.team.id,
        WebhookDraft(name="paced", url="https://example.com/p", events="*", rate_limit=10),
    )
    await container.events.publish(team.team.id, "ticket.created", {"n": 1})
    await other_session.execute(
        "SELECT 1 FROM webhook_pacing WHERE webhook_id = $1 FOR UPDATE", created.webhook.id
    )
    held = 0.4
    asyncio.get_running_loop().call_later(
        held, lambda: asyncio.ensure_future(other_session.execute("ROLLBACK; BEGIN"))
    )
    now = later(0)
    (claimed,) = (await asyncio.wait_for(cycle(container, [], request(now)), 5)).claimed
    assert claimed.send_at is not None
    assert claimed.send_at >= now + timedelta(seconds=held - 0.05)
