"""A stalled endpoint's backlog costs nothing: with 100,000 deliveries queued for an endpoint that
accepts connections and never answers, the dispatcher's process is idle between timeouts and a
healthy endpoint is as fast as without the backlog (p95 within 2x)."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.domain.clock import utc_now
from cstar.server.services.teams import CreatedTeam
from tests.dispatch.support import make_webhook
from tests.receiver import HungEndpoint, Receiver

BACKLOG = 100_000
CONCURRENCY = 8
RATE = 20  # events per second to the healthy endpoint
SAMPLES = 60


@pytest.fixture
async def patient(delivery_settings: Settings) -> AsyncIterator[Container]:
    """No timeout during the test (the lease is 60 s); each database's default idle polling."""
    settings = replace(
        delivery_settings,
        endpoint_concurrency=CONCURRENCY,
        delivery_timeout=30.0,
        poll_interval=None,
    )
    node = await open_container(settings, bootstrap=False)
    try:
        yield node
    finally:
        await node.aclose()


async def insert_backlog(node: Container, team: CreatedTeam, webhook_id: str) -> None:
    """The backlog, written in bulk: due deliveries of one event (as a replay would queue)."""
    event = (
        await node.events.publish(team.team.id, "customer.created", {"customer": {"id": "c"}})
    ).event
    due = utc_now() - timedelta(minutes=1)
    values = {"team": team.team.id, "event": event.id, "hook": webhook_id, "count": BACKLOG}
    values["tag"] = secrets.token_hex(4)
    if node.database.dialect == "postgresql":
        values["at"] = due
        rows = "FROM generate_series(1, :count) AS i"
        at = "CAST(:at AS timestamptz)"
    else:
        values["at"] = due.replace(tzinfo=None).isoformat(" ", "microseconds")
        rows = "FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) SELECT i FROM n)"  # noqa: E501
        at = ":at"
    statement = (
        "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, "
        "attempts, retry_index, next_attempt_at, created_at, updated_at) "
        f"SELECT 'dlv_' || :tag || i, :team, :event, :hook, 'customer.created', 'pending', 0, 0, "
        f"{at}, {at}, {at} {rows}"
    )
    await node.database.write(lambda c: c.execute(sa.text(statement), values))
    # As autovacuum does after a bulk change: the planner knows how many rows are due.
    await node.database.write(lambda c: c.exec_driver_sql("ANALYZE deliveries"))
    if node.database.dialect == "sqlite":
        # As the next automatic checkpoint would: the bulk insert's WAL pages are written back
        # now, not during one of the measured publishes.
        path = node.database.write_engine.url.database
        assert path is not None
        await asyncio.to_thread(checkpoint, path)


def checkpoint(path: str) -> None:
    """Outside any transaction, on a connection of its own (a checkpoint cannot run inside one)."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")


async def healthy_latencies(node: Container, team: CreatedTeam, receiver: Receiver) -> list[float]:
    """Publish at RATE per second; milliseconds from the call to publish to arrival.

    One publish goes first, unmeasured: after seconds of idling, the first delivery pays for
    waking the process and the machine (measured 2026-12-06: 14 to 68 ms, on this test's
    commit and the one before it alike), which a percentile of 60 samples would take for the
    backlog's cost.
    """
    already = len(receiver.received("/fast")) + 1
    await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": "wake"}})
    await receiver.wait_for(already, "/fast", timeout=30)
    sent: dict[str, float] = {}
    for i in range(SAMPLES):
        started = time.time()
        outcome = await node.events.publish(
            team.team.id, "ticket.created", {"ticket": {"id": f"t{i}"}}
        )
        sent[outcome.event.id] = started
        await asyncio.sleep(max(0.0, 1 / RATE - (time.time() - started)))
    arrived = await receiver.wait_for(already + SAMPLES, "/fast", timeout=30)
    return [(r.at - sent[r.header("x-event-id")]) * 1000 for r in arrived[already:]]


def p95(values: list[float]) -> float:
    """The 95th percentile. Not the 99th: of 60 samples that is the largest one extrapolated,
    and one delivery in 60 delayed by a scheduler hiccup (30 ms, seen in a full run on
    2026-12-06) failed the test on this commit and the one before it alike. A backlog that
    cost anything would slow every delivery, and show here and in the median."""
    return statistics.quantiles(values, n=20)[-1]


async def test_a_hung_endpoints_backlog_costs_nothing(
    patient: Container, hung: HungEndpoint, receiver: Receiver
) -> None:
    node = patient
    team = await node.teams.create_team("Backlog")
    stalled = await make_webhook(node, team, await hung.start(), events="customer.*", name="hung")
    await make_webhook(node, team, receiver.url("/fast"), events="ticket.*", name="fast")
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:
        await healthy_latencies(node, team, receiver)  # warm up connections and caches
        before = await healthy_latencies(node, team, receiver)

        await insert_backlog(node, team, stalled.webhook.id)
        deadline = time.monotonic() + 30
        while hung.connections < CONCURRENCY:
            assert time.monotonic() < deadline, "the hung endpoint never got its requests"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # its buffer fills too; then nothing more may be claimed

        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(3.0)
        idle = (time.process_time() - cpu) / (time.monotonic() - wall)

        after = await healthy_latencies(node, team, receiver)
    finally:
        dispatcher.stop()
        await task
    assert hung.connections == CONCURRENCY  # its cap held all along
    # Idle: a share of one core well below what scanning the backlog costs (most of one).
    assert idle < 0.1, idle
    assert p95(after) <= 2 * p95(before) + 2.0, (sorted(before)[-5:], sorted(after)[-5:])
    assert statistics.median(after) <= 1.5 * statistics.median(before) + 1.0
