"""A slow or dead endpoint must not delay deliveries to healthy ones."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.domain.deliveries import DeliveryStatus
from tests.dispatch.support import make_webhook, wait_delivery
from tests.receiver import Receiver, Reply

HANGING_EVENTS = 60
HEALTHY_EVENTS = 40


@pytest.fixture
async def tight(delivery_settings: Settings) -> AsyncIterator[Container]:
    """Few slots in all, and a per-endpoint cap well below them."""
    settings = replace(
        delivery_settings,
        dispatch_concurrency=16,
        endpoint_concurrency=4,
        delivery_timeout=3.0,
        retry_schedule=(60.0,),
    )
    node = await open_container(settings, bootstrap=False)
    try:
        yield node
    finally:
        await node.aclose()


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(
    tight: Container, receiver: Receiver
) -> None:
    node = tight
    team = await node.teams.create_team("Isolation")
    await make_webhook(node, team, receiver.url("/hang"), events="ticket.*")
    healthy = await make_webhook(node, team, receiver.url("/fast"), events="customer.*")
    receiver.plan("/hang", then=Reply(200, delay=10.0))  # longer than the 3 s timeout
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:
        for i in range(HANGING_EVENTS):
            await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": f"{i}"}})
        await receiver.wait_for(4, "/hang")  # the hanging endpoint holds its 4 slots
        sent_at: dict[str, float] = {}
        for i in range(HEALTHY_EVENTS):
            outcome = await node.events.publish(
                team.team.id, "customer.created", {"customer": {"id": f"{i}"}}
            )
            sent_at[outcome.event.id] = time.time()
            await asyncio.sleep(0.01)
        arrived = await receiver.wait_for(HEALTHY_EVENTS, "/fast", timeout=10)
        latencies = [(r.at - sent_at[r.header("x-event-id")]) * 1000 for r in arrived]
        await wait_delivery(
            node, team, healthy.webhook.id, status=DeliveryStatus.SUCCEEDED, count=HEALTHY_EVENTS
        )
        # The cap: until the first hanging request times out (3 s), exactly 4 are sent to it.
        hung = receiver.received("/hang")
        within_first_timeout = [r for r in hung if r.at - hung[0].at < 2.5]
        assert len(within_first_timeout) == 4
        assert receiver.max_in_flight["/fast"] <= 4
    finally:
        dispatcher.stop()
        await task
    p95 = statistics.quantiles(latencies, n=20)[-1]
    assert max(latencies) < 1000, latencies  # one hanging request would take 3000 ms
    assert p95 < 250, latencies


async def test_a_backlog_for_one_endpoint_never_exceeds_its_cap(
    tight: Container, receiver: Receiver
) -> None:
    """Even when one claim could take a whole backlog for one endpoint, only its cap is sent at
    once, and another endpoint's new event still goes out at once."""
    node = tight
    team = await node.teams.create_team("Backlog")
    await make_webhook(node, team, receiver.url("/slow"), events="ticket.*")
    healthy = await make_webhook(node, team, receiver.url("/fast"), events="customer.*")
    receiver.plan("/slow", then=Reply(200, delay=0.3))
    for i in range(40):  # queued before any worker runs: one claim could take them all
        await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": f"{i}"}})
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:
        await receiver.wait_for(4, "/slow")
        started = time.time()
        await node.events.publish(team.team.id, "customer.created", {"customer": {"id": "c"}})
        (fast,) = await receiver.wait_for(1, "/fast")
        await receiver.wait_for(40, "/slow", timeout=20)
        await wait_delivery(node, team, healthy.webhook.id, status=DeliveryStatus.SUCCEEDED)
    finally:
        dispatcher.stop()
        await task
    assert receiver.max_in_flight["/slow"] == 4
    assert fast.at - started < 0.25
