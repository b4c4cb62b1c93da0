"""The dispatcher's cycle as the storage contract defines it, on SQLite and PostgreSQL: one
transaction, each attempt recorded once, claims within each endpoint's room, and a stalled
endpoint's backlog that costs a claim nothing."""

from __future__ import annotations

import secrets
import statistics
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.domain.clock import utc_now
from cstar.server.domain.deliveries import Attempt, DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.contract import (
    AttemptOutcome,
    ClaimedDelivery,
    ClaimRequest,
    CycleResult,
    StoreError,
)
from cstar.server.store.schema import deliveries, delivery_attempts, webhooks

A = "worker-a"
B = "worker-b"
LEASE = timedelta(seconds=60)
PER_WEBHOOK = 8


def later(seconds: float = 1.0) -> datetime:
    return utc_now() + timedelta(seconds=seconds)


def request(
    now: datetime, worker: str = A, *, limit: int = 50, busy: dict[str, int] | None = None
) -> ClaimRequest:
    return ClaimRequest(
        now=now,
        limit=limit,
        lease_until=now + LEASE,
        worker_id=worker,
        per_webhook=PER_WEBHOOK,
        busy=busy or {},
    )


async def cycle(
    node: Container,
    outcomes: list[AttemptOutcome],
    claim: ClaimRequest | None,
    *,
    worker: str = A,
    now: datetime | None = None,
    disable_after: timedelta = timedelta(days=5),
) -> CycleResult:
    moment = now or (claim.now if claim is not None else later())
    return await node.delivery_store.record_and_claim(
        outcomes,
        claim,
        worker_id=worker,
        now=moment,
        disable_failing_since=moment - disable_after,
    )


def failed(claim: ClaimedDelivery, now: datetime) -> AttemptOutcome:
    return AttemptOutcome(
        attempt=Attempt(
            delivery_id=claim.delivery_id,
            webhook_id=claim.webhook_id,
            attempt=claim.attempts + 1,
            started_at=now,
            duration_ms=7,
            status_code=500,
            success=False,
            error="endpoint answered 500",
            url=claim.url,
            request_headers={"x-delivery-attempt": str(claim.attempts + 1)},
            response_body="oops",
        ),
        status=DeliveryStatus.PENDING,
        next_attempt_at=now + timedelta(minutes=5),
        retry_index=claim.retry_index + 1,
    )


async def hook_with_deliveries(
    node: Container, team: CreatedTeam, count: int, *, name: str = "hook"
) -> str:
    hook = await node.webhooks.create(
        team.team.id,
        WebhookDraft(name=name, url=f"https://example.com/{name}", events="ticket.*"),
    )
    for i in range(count):
        await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": f"{i}"}})
    return hook.webhook.id


async def attempts_per_delivery(node: Container) -> Counter[str]:
    rows = await node.database.read(
        lambda c: c.execute(sa.select(delivery_attempts.c.delivery_id)).scalars().all()
    )
    return Counter(rows)


async def failures_of(node: Container, webhook_id: str) -> int:
    return int(
        await node.database.read(
            lambda c: c.execute(
                sa.select(webhooks.c.consecutive_failures).where(webhooks.c.id == webhook_id)
            ).scalar_one()
        )
    )


@pytest.fixture
async def team(container: Container) -> CreatedTeam:
    return await container.teams.create_team("Cycle")


async def test_recording_the_same_batch_twice_changes_nothing(
    container: Container, team: CreatedTeam
) -> None:
    hook = await hook_with_deliveries(container, team, 3)
    now = later()
    claimed = (await cycle(container, [], request(now))).claimed
    assert len(claimed) == 3
    outcomes = [failed(c, now) for c in claimed]

    first = await cycle(container, outcomes, None, now=now)
    # The answer was lost (say): the dispatcher sends the same batch again.
    second = await cycle(container, outcomes, None, now=now)

    assert (first.stale, second.stale) == (0, 3)
    assert set((await attempts_per_delivery(container)).values()) == {1}
    assert await failures_of(container, hook) == 3


async def test_an_outcome_whose_lease_passed_to_another_worker_is_not_recorded(
    container: Container, team: CreatedTeam
) -> None:
    await hook_with_deliveries(container, team, 1)
    now = later()
    (mine,) = (await cycle(container, [], request(now))).claimed
    # A's lease ends (its database was away, say) and B takes the delivery over.
    after_lease = now + LEASE + timedelta(seconds=1)
    (theirs,) = (await cycle(container, [], request(after_lease, B), worker=B)).claimed
    assert theirs.delivery_id == mine.delivery_id

    late = await cycle(container, [failed(mine, now)], None, now=after_lease)
    assert late.stale == 1
    assert await attempts_per_delivery(container) == Counter()
    recorded = await cycle(container, [failed(theirs, after_lease)], None, worker=B)
    assert recorded.stale == 0
    assert await attempts_per_delivery(container) == Counter({mine.delivery_id: 1})


_REFUSE_DISABLE = {
    "sqlite": [
        "CREATE TRIGGER refuse_disable BEFORE UPDATE OF is_active ON webhooks "
        "WHEN NEW.is_active = 0 BEGIN SELECT RAISE(ABORT, 'cannot disable now'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION refuse_disable() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NOT NEW.is_active THEN RAISE EXCEPTION 'cannot disable now'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_disable BEFORE UPDATE OF is_active ON webhooks "
        "FOR EACH ROW EXECUTE FUNCTION refuse_disable()",
    ],
}
_ALLOW_DISABLE = {
    "sqlite": ["DROP TRIGGER IF EXISTS refuse_disable"],
    "postgresql": ["DROP TRIGGER IF EXISTS refuse_disable ON webhooks"],
}


async def _run(node: Container, statements: dict[str, list[str]]) -> None:
    for statement in statements[node.database.dialect]:
        await node.database.write(lambda c, s=statement: c.exec_driver_sql(s))


async def test_a_cycle_that_fails_part_way_writes_nothing(
    container: Container, team: CreatedTeam
) -> None:
    hook = await hook_with_deliveries(container, team, 2)
    now = later()
    claimed = (await cycle(container, [], request(now))).claimed
    # The webhook has failed for a week: recording one more failure deactivates it, and that
    # step of the cycle fails in the database.
    await container.database.write(
        lambda c: c.execute(
            webhooks.update()
            .where(webhooks.c.id == hook)
            .values(failing_since=now - timedelta(days=7), consecutive_failures=40)
        )
    )
    outcomes = [failed(c, now) for c in claimed]
    await _run(container, _REFUSE_DISABLE)
    try:
        with pytest.raises(StoreError, match="cannot disable now"):
            await cycle(container, outcomes, None, now=now)
        # Nothing of the cycle stayed: no attempt, no failure counted, the leases still held.
        assert await attempts_per_delivery(container) == Counter()
        assert await failures_of(container, hook) == 40
    finally:
        await _run(container, _ALLOW_DISABLE)

    done = await cycle(container, outcomes, None, now=now)
    assert done.disabled == [hook]
    assert set((await attempts_per_delivery(container)).values()) == {1}
    assert await failures_of(container, hook) == 42
    statuses = await container.database.read(
        lambda c: c.execute(sa.select(deliveries.c.status)).scalars().all()
    )
    assert set(statuses) == {DeliveryStatus.PAUSED.value}


async def test_release_unheld_gives_back_what_the_worker_no_longer_knows_it_holds(
    container: Container, team: CreatedTeam
) -> None:
    await hook_with_deliveries(container, team, 4)
    now = later()
    claimed = (await cycle(container, [], request(now))).claimed
    held = [c.delivery_id for c in claimed[:1]]
    assert await container.delivery_store.release_unheld(held, worker_id=B) == 0
    assert await container.delivery_store.release_unheld(held, worker_id=A) == 3
    again = (await cycle(container, [], request(now, B), worker=B)).claimed
    assert {c.delivery_id for c in again} == {c.delivery_id for c in claimed[1:]}


async def test_a_claim_takes_what_fits_behind_a_backlog_without_room(
    container: Container, team: CreatedTeam
) -> None:
    stalled = await hook_with_deliveries(container, team, 150, name="stalled")
    healthy = await hook_with_deliveries(container, team, 5, name="healthy")
    now = later()
    # The stalled endpoint has no room left; its 150 older deliveries fill the claim window.
    full = await cycle(container, [], request(now, busy={stalled: PER_WEBHOOK}))
    assert Counter(c.webhook_id for c in full.claimed) == Counter({healthy: 5})
    # With room for 2 more, it gets exactly 2, the oldest of its backlog.
    await container.delivery_store.release_unheld([], worker_id=A)
    some = await cycle(container, [], request(now, busy={stalled: PER_WEBHOOK - 2}))
    assert Counter(c.webhook_id for c in some.claimed) == Counter({healthy: 5, stalled: 2})


async def test_next_due_is_the_earliest_delivery_not_yet_due(
    container: Container, team: CreatedTeam
) -> None:
    await hook_with_deliveries(container, team, 2)
    now = later()
    claimed = (await cycle(container, [], request(now, limit=1))).claimed
    # One is due but not claimed (the limit): it is not "next due", it is due already.
    assert (await cycle(container, [], None, now=now)).next_due is None
    result = await cycle(container, [failed(claimed[0], now)], None, now=now)
    assert result.next_due == now + timedelta(minutes=5)


async def _insert_backlog(node: Container, team: CreatedTeam, webhook_id: str, count: int) -> None:
    """``count`` due deliveries for one webhook, written in bulk (one event, as a replay would)."""
    event = (
        await node.events.publish(team.team.id, "customer.created", {"customer": {"id": "c"}})
    ).event
    due = utc_now() - timedelta(minutes=1)
    values = {
        "team": team.team.id,
        "event": event.id,
        "hook": webhook_id,
        "count": count,
        "at": due,
        "tag": secrets.token_hex(4),
    }
    if node.database.dialect == "postgresql":
        statement = (
            "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, "
            "attempts, retry_index, next_attempt_at, created_at, updated_at) "
            "SELECT 'dlv_' || :tag || i, :team, :event, :hook, 'customer.created', 'pending', "
            "0, 0, CAST(:at AS timestamptz), CAST(:at AS timestamptz), CAST(:at AS timestamptz) "
            "FROM generate_series(1, :count) AS i"
        )
    else:
        values["at"] = due.replace(tzinfo=None).isoformat(" ", "microseconds")
        statement = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, "
            "attempts, retry_index, next_attempt_at, created_at, updated_at) "
            "SELECT 'dlv_' || :tag || i, :team, :event, :hook, 'customer.created', 'pending', 0, "
            "0, :at, :at, :at FROM n"
        )
    await node.database.write(lambda c: c.execute(sa.text(statement), values))
    # As autovacuum does after a bulk change: the planner knows how many rows are due.
    await node.database.write(lambda c: c.exec_driver_sql("ANALYZE deliveries"))


async def _claim_times(node: Container, busy: dict[str, int], rounds: int = 15) -> float:
    """Median seconds of a cycle that claims (and finds nothing it may take)."""
    times = []
    for _ in range(rounds):
        now = later()
        started = time.perf_counter()
        result = await cycle(node, [], request(now, busy=busy))
        times.append(time.perf_counter() - started)
        assert result.claimed == []
    return statistics.median(times)


async def test_a_backlog_without_room_costs_a_cycle_nothing(
    container: Container, team: CreatedTeam
) -> None:
    stalled = (
        await container.webhooks.create(
            team.team.id,
            WebhookDraft(name="stalled", url="https://example.com/s", events="customer.*"),
        )
    ).webhook.id
    busy = {stalled: PER_WEBHOOK}
    await _insert_backlog(container, team, stalled, 200)
    small = await _claim_times(container, busy)
    await _insert_backlog(container, team, stalled, 100_000)
    large = await _claim_times(container, busy)
    # A scan of the backlog takes tens of milliseconds; looking past it, well under one.
    assert large < 2 * small + 0.002, (small, large)
