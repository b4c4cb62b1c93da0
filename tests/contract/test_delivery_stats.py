"""Delivery statistics per webhook and UTC hour, on SQLite and PostgreSQL: written by the
dispatcher's cycle with exactly the attempts it records, read per team in one indexed query,
purged with the logs and deleted with their webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.domain.clock import utc_now
from cstar.server.domain.deliveries import Attempt, Delivery, DeliveryStatus, Event
from cstar.server.domain.stats import LATENCY_BUCKETS, HourlyStats, hour_of
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store import deliveries as delivery_module
from cstar.server.store.contract import (
    AttemptOutcome,
    ClaimedDelivery,
    ClaimRequest,
    CycleResult,
    StoreError,
)
from cstar.server.store.schema import delivery_stats

WORKER = "worker-stats"
HOUR = timedelta(hours=1)
PENDING, FAILED, SUCCEEDED = DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED


def hist(buckets: dict[int, int]) -> tuple[int, ...]:
    """A latency histogram with ``count`` attempts in bucket ``index``."""
    return tuple(buckets.get(i, 0) for i in range(LATENCY_BUCKETS))


async def cycle(
    node: Container, outcomes: Sequence[AttemptOutcome], *, claim: int = 0
) -> CycleResult:
    now = utc_now() + timedelta(seconds=1)
    request = (
        ClaimRequest(
            now=now,
            limit=claim,
            lease_until=now + timedelta(seconds=60),
            worker_id=WORKER,
            per_webhook=claim,
            busy={},
        )
        if claim
        else None
    )
    return await node.delivery_store.record_and_claim(
        outcomes,
        request,
        worker_id=WORKER,
        now=now,
        disable_failing_since=now - timedelta(days=5),
    )


async def claim_all(node: Container, limit: int = 100) -> dict[str, list[ClaimedDelivery]]:
    """Every due delivery, claimed, per webhook."""
    claimed: dict[str, list[ClaimedDelivery]] = {}
    for c in (await cycle(node, [], claim=limit)).claimed:
        claimed.setdefault(c.webhook_id, []).append(c)
    return claimed


def outcome(
    claim: ClaimedDelivery,
    *,
    at: datetime,
    ms: int,
    status: DeliveryStatus,
    code: int | None = None,
    again_at: datetime | None = None,
    gone: bool = False,
) -> AttemptOutcome:
    success = status is SUCCEEDED
    return AttemptOutcome(
        attempt=Attempt(
            delivery_id=claim.delivery_id,
            webhook_id=claim.webhook_id,
            attempt=claim.attempts + 1,
            started_at=at,
            duration_ms=ms,
            status_code=code or (200 if success else 500),
            success=success,
            error=None if success else "endpoint answered 500",
            url=claim.url,
            request_headers={},
            response_body="ok",
        ),
        status=status,
        next_attempt_at=(again_at or at + timedelta(minutes=5)) if status is PENDING else None,
        retry_index=claim.retry_index + 1,
        deactivate_reason="The endpoint answered 410 Gone" if gone else None,
    )


async def hook(node: Container, team: CreatedTeam, name: str) -> str:
    created = await node.webhooks.create(
        team.team.id,
        WebhookDraft(name=name, url=f"https://example.com/{name}", events="ticket.*"),
    )
    return created.webhook.id


async def publish(node: Container, team: CreatedTeam, count: int) -> None:
    for i in range(count):
        await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": f"{i}"}})


async def stored_rows(node: Container) -> list[tuple[Any, ...]]:
    """Everything in the table, whoever it belongs to."""
    query = sa.select(delivery_stats).order_by(delivery_stats.c.webhook_id, delivery_stats.c.hour)
    rows = await node.database.read(lambda c: c.execute(query).all())
    return [tuple(r) for r in rows]


@pytest.fixture
async def team(container: Container) -> CreatedTeam:
    return await container.teams.create_team("Stats")


async def test_recorded_attempts_add_to_their_webhook_and_hour_and_bucket(
    container: Container, team: CreatedTeam
) -> None:
    a, b = await hook(container, team, "a"), await hook(container, team, "b")
    await publish(container, team, 3)
    claimed = await claim_all(container)
    base = hour_of(utc_now()) - 3 * HOUR
    a1, a2, a3 = claimed[a]
    b1, b2, b3 = claimed[b]
    early, last_instant, next_hour, later = (
        base + timedelta(minutes=5),
        base + HOUR - timedelta(microseconds=1),  # still the first hour
        base + HOUR,
        base + timedelta(minutes=90),
    )
    result = await cycle(
        container,
        [
            outcome(a1, at=early, ms=0, status=SUCCEEDED),
            outcome(a2, at=last_instant, ms=11, status=PENDING, again_at=utc_now()),
            outcome(a3, at=next_hour, ms=10_000, status=FAILED),
            outcome(b1, at=later, ms=10_001, status=SUCCEEDED),
            outcome(b2, at=later, ms=10, status=FAILED, code=410, gone=True),
            outcome(b3, at=early, ms=25, status=SUCCEEDED),
        ],
    )
    assert result.stale == 0
    assert result.disabled == [b]

    # a2 was due again at once: its retry succeeds, in the first hour too.
    (retry,) = (await claim_all(container))[a]
    await cycle(container, [outcome(retry, at=early, ms=100, status=SUCCEEDED)])

    stats = await container.delivery_store.hourly_stats(team.team.id, [b, a, a], since=base)
    expected = [
        HourlyStats(a, base, 2, 1, 0, hist({0: 1, 1: 1, 3: 1})),
        HourlyStats(a, base + HOUR, 0, 0, 1, hist({9: 1})),
        HourlyStats(b, base, 1, 0, 0, hist({1: 1})),
        HourlyStats(b, base + HOUR, 1, 0, 1, hist({0: 1, 10: 1})),
    ]
    assert stats == sorted(expected, key=lambda s: (s.webhook_id, s.hour))
    # From the hour of ``since`` on.
    second = await container.delivery_store.hourly_stats(
        team.team.id, [a, b], since=base + timedelta(minutes=61)
    )
    assert [(s.webhook_id, s.hour) for s in second] == sorted([(a, base + HOUR), (b, base + HOUR)])


async def test_a_batch_recorded_again_adds_nothing(container: Container, team: CreatedTeam) -> None:
    a = await hook(container, team, "a")
    await publish(container, team, 3)
    claimed = (await claim_all(container))[a]
    at = utc_now()
    batch = [outcome(c, at=at, ms=30, status=PENDING) for c in claimed]
    assert (await cycle(container, batch)).stale == 0
    # The answer was lost (say): the same batch comes again, alone and then beside a fresh one.
    assert (await cycle(container, batch)).stale == 3
    await publish(container, team, 1)
    (fresh,) = (await claim_all(container))[a]
    mixed = await cycle(container, [batch[0], outcome(fresh, at=at, ms=30, status=SUCCEEDED)])
    assert mixed.stale == 1

    stats = await container.delivery_store.hourly_stats(team.team.id, [a], since=at)
    assert stats == [HourlyStats(a, hour_of(at), 1, 3, 0, hist({2: 4}))]


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


async def test_a_cycle_that_fails_part_way_adds_nothing(
    container: Container, team: CreatedTeam
) -> None:
    a = await hook(container, team, "a")
    await publish(container, team, 1)
    (claim,) = (await claim_all(container))[a]
    # The endpoint answers 410: deactivating the webhook, after the statistics, fails.
    gone = outcome(claim, at=utc_now(), ms=5, status=FAILED, code=410, gone=True)
    await _run(container, _REFUSE_DISABLE)
    try:
        with pytest.raises(StoreError, match="cannot disable now"):
            await cycle(container, [gone])
        assert await stored_rows(container) == []
    finally:
        await _run(container, _ALLOW_DISABLE)
    assert (await cycle(container, [gone])).disabled == [a]
    stats = await container.delivery_store.hourly_stats(team.team.id, [a], since=utc_now() - HOUR)
    assert [(s.failed, s.latency) for s in stats] == [(1, hist({0: 1}))]


async def test_test_sends_do_not_count(container: Container, team: CreatedTeam) -> None:
    a = await hook(container, team, "a")
    at = utc_now()
    event = Event("evt_test_1", team.team.id, "ticket.created", "{}", None, True, at)
    delivery = Delivery(
        id="dlv_test1234567890",
        team_id=team.team.id,
        event_id=event.id,
        webhook_id=a,
        event_type=event.type,
        status=SUCCEEDED,
        attempts=1,
        retry_index=1,
        next_attempt_at=None,
        last_status_code=200,
        last_error=None,
        created_at=at,
        updated_at=at,
        completed_at=at,
    )
    attempt = Attempt(delivery.id, a, 1, at, 12, 200, True, None, "https://example.com/a", {}, "")
    await container.delivery_store.record_test_send(event, delivery, attempt)
    assert await container.delivery_store.list_attempts(delivery.id) == [attempt]
    assert await container.delivery_store.hourly_stats(team.team.id, [a], since=at - HOUR) == []
    assert await stored_rows(container) == []


async def test_only_the_teams_own_webhooks_are_read(
    container: Container, team: CreatedTeam
) -> None:
    other = await container.teams.create_team("Other")
    mine, theirs = await hook(container, team, "mine"), await hook(container, other, "theirs")
    await publish(container, team, 1)
    await publish(container, other, 1)
    claimed = await claim_all(container)
    at = utc_now()
    await cycle(
        container, [outcome(claimed[w][0], at=at, ms=1, status=SUCCEEDED) for w in (mine, theirs)]
    )
    since = at - HOUR
    store = container.delivery_store
    both = await store.hourly_stats(team.team.id, [mine, theirs], since=since)
    assert [s.webhook_id for s in both] == [mine]
    assert await store.hourly_stats(team.team.id, [theirs], since=since) == []
    assert await store.hourly_stats(other.team.id, [mine], since=since) == []
    assert await store.hourly_stats(team.team.id, [], since=since) == []
    assert len(await stored_rows(container)) == 2


async def test_purge_removes_the_hours_that_ended_before_the_retention(
    container: Container, team: CreatedTeam, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await hook(container, team, "a")
    await publish(container, team, 6)
    claimed = (await claim_all(container))[a]
    now = utc_now()
    cutoff = now - timedelta(days=30)
    # Four hours that ended before the cut-off, the hour it falls in, and the current hour.
    hours = [hour_of(cutoff) - n * HOUR for n in (4, 3, 2, 1)] + [hour_of(cutoff), hour_of(now)]
    await cycle(
        container,
        [outcome(c, at=h, ms=1, status=SUCCEEDED) for c, h in zip(claimed, hours, strict=True)],
    )
    monkeypatch.setattr(delivery_module, "_PURGE_CHUNK", 3)  # the purge works in chunks

    await container.delivery_store.purge(completed_before=cutoff, idempotency_before=now)

    stats = await container.delivery_store.hourly_stats(team.team.id, [a], since=hours[0])
    assert [s.hour for s in stats] == [hour_of(cutoff), hour_of(now)]


async def test_deleting_a_webhook_deletes_its_statistics(
    container: Container, team: CreatedTeam
) -> None:
    a, b = await hook(container, team, "a"), await hook(container, team, "b")
    await publish(container, team, 1)
    claimed = await claim_all(container)
    at = utc_now()
    await cycle(container, [outcome(claimed[w][0], at=at, ms=1, status=SUCCEEDED) for w in (a, b)])
    assert [r[0] for r in await stored_rows(container)] == sorted([a, b])
    await container.webhooks.delete(team.team.id, a)
    assert [r[0] for r in await stored_rows(container)] == [b]


# -- a week of a busy webhook costs its hours, not its attempts ---------------------------------


async def _bulk_deliveries(node: Container, team: CreatedTeam, webhook_id: str, count: int) -> None:
    """``count`` due deliveries of one event for one webhook, inserted in one statement."""
    event = (await node.events.publish(team.team.id, "customer.created", {"c": 1})).event
    due = utc_now() - timedelta(minutes=1)
    values: dict[str, Any] = {"team": team.team.id, "event": event.id, "hook": webhook_id}
    values |= {"count": count, "at": due}
    columns = (
        "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, "
        "attempts, retry_index, next_attempt_at, created_at, updated_at) "
    )
    if node.database.dialect == "postgresql":
        statement = columns + (
            "SELECT 'dlv_bulk' || i, :team, :event, :hook, 'customer.created', 'pending', 0, 0, "
            "CAST(:at AS timestamptz), CAST(:at AS timestamptz), CAST(:at AS timestamptz) "
            "FROM generate_series(1, :count) AS n(i)"
        )
    else:
        values["at"] = due.replace(tzinfo=None).isoformat(" ", "microseconds")
        statement = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
            + columns
            + "SELECT 'dlv_bulk' || i, :team, :event, :hook, 'customer.created', 'pending', 0, "
            "0, :at, :at, :at FROM n"
        )
    await node.database.write(lambda c: c.execute(sa.text(statement), values))


@contextmanager
def statements_run() -> Iterator[list[tuple[str, Any]]]:
    """Every statement any engine runs meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


def _plan(conn: sa.Connection, statement: str, parameters: Any) -> list[str]:
    """How the database reads ``delivery_stats`` for ``statement``: SQLite's query plan; on
    PostgreSQL each node of the executed plan on that table, with the rows it produced."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        return [str(row[-1]) for row in rows if "delivery_stats" in str(row[-1])]
    # Whether the query can be answered from the primary key, whatever the table's size: a
    # table this small would otherwise be read whole, which is cheaper at this size.
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    (answer,) = conn.exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
    ).one()
    plan = json.loads(answer) if isinstance(answer, str) else answer
    nodes, found = [plan[0]["Plan"]], []
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == "delivery_stats":
            found.append(
                f"{node['Node Type']} using {node.get('Index Name')} on {node.get('Index Cond')}: "
                f"{node['Actual Rows']} rows"
            )
    return found


async def test_a_week_of_a_busy_webhook_reads_its_hours_not_its_attempts(
    container: Container, team: CreatedTeam
) -> None:
    busy, quiet = await hook(container, team, "busy"), await hook(container, team, "quiet")
    attempts = 3000
    await _bulk_deliveries(container, team, busy, attempts)
    await publish(container, team, 1)  # one attempt for each webhook
    claimed = await claim_all(container, limit=attempts + 10)
    assert len(claimed[busy]) == attempts + 1
    now = utc_now()
    week = [now - n * HOUR for n in range(168)]
    await cycle(
        container,
        [
            outcome(c, at=week[i % 168], ms=i % 20_000, status=SUCCEEDED)
            for i, c in enumerate(claimed[busy] + claimed[quiet])
        ],
    )
    since = now - 167 * HOUR

    with statements_run() as seen:
        stats = await container.delivery_store.hourly_stats(team.team.id, [busy], since=since)

    assert len(stats) == 168
    assert sum(s.attempts for s in stats) == attempts + 1
    assert sum(sum(s.latency) for s in stats) == attempts + 1
    # One statement (a transaction's BEGIN aside), and it reads neither attempts nor deliveries.
    ((statement, parameters),) = [s for s in seen if s[0] != "BEGIN"]
    assert "delivery_attempts" not in statement
    assert "deliveries" not in statement
    plan = await container.database.read(lambda c: _plan(c, statement, parameters))
    # A range of the primary key: this webhook's hours since ``since``, nothing else.
    if container.database.dialect == "sqlite":
        assert plan == [
            "SEARCH delivery_stats USING INDEX sqlite_autoindex_delivery_stats_1 "
            "(webhook_id=? AND hour>?)"
        ]
    else:
        ((kind, condition),) = [line.split(" on ", 1) for line in plan]
        assert kind == "Index Scan using pk_delivery_stats", plan
        assert "webhook_id" in condition, plan
        assert "hour >=" in condition, plan
        assert condition.endswith(": 168 rows"), plan
