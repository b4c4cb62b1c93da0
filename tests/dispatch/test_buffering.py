"""What a dispatcher holds: requests in flight within the total and per-endpoint caps, and a
per-endpoint buffer of claims that keeps senders busy between cycles, never larger than the
lease leaves time to send."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from cstar.server.bootstrap import open_container
from cstar.server.config import Settings
from cstar.server.dispatch.dispatcher import DispatchConfig, room_multiple
from cstar.server.dispatch.sender import Sender
from cstar.server.domain.deliveries import DeliveryStatus
from tests.dispatch.support import make_webhook, wait_delivery
from tests.receiver import Receiver, Reply


@pytest.mark.parametrize(
    ("lease", "timeout", "multiple"),
    [
        (60.0, 10.0, 4),  # the defaults: three waves of timeouts fit in the lease
        (2.0, 1.0, 1),  # the shortest lease allowed: no buffer at all
        (14.0, 6.0, 2),  # one wave: 14 - 6 - 1 leaves 7 s, room for one 6 s timeout
        (300.0, 1.0, 4),  # a long lease: the buffer stays at its cap
    ],
)
def test_the_buffer_holds_only_what_the_lease_leaves_time_to_send(
    lease: float, timeout: float, multiple: int
) -> None:
    config = DispatchConfig(lease=timedelta(seconds=lease), delivery_timeout=timeout)
    assert room_multiple(config) == multiple


@pytest.mark.parametrize(
    ("endpoint_timeout", "multiple"),
    [
        (30, 1),  # 60 - 30 - 1 leaves 29 s: not one more 30 s wave
        (20, 2),  # 60 - 20 - 1 leaves 39 s: one more wave
        (5, 4),  # shorter than the server's: the buffer stays at its cap
        (None, 4),  # the server's 10 s
    ],
)
def test_an_endpoints_own_timeout_sizes_its_buffer(
    endpoint_timeout: int | None, multiple: int
) -> None:
    config = DispatchConfig(lease=timedelta(seconds=60), delivery_timeout=10.0)
    assert room_multiple(config, endpoint_timeout) == multiple


async def test_requests_in_flight_stay_within_the_total_across_endpoints(
    delivery_settings: Settings, receiver: Receiver
) -> None:
    """Three slow endpoints with room for 4 each, and 4 in flight in all: the total holds.

    The dispatcher sends through a client with connections to spare (as each host's own client
    has outside --dev), so that only the dispatcher's own limit can hold the total."""
    settings = replace(
        delivery_settings, dispatch_concurrency=4, endpoint_concurrency=4, retry_schedule=(60.0,)
    )
    node = await open_container(settings, bootstrap=False)
    roomy = Sender(timeout=5, max_response_bytes=100, allow_private=True, pool_size=64)
    await roomy.start()
    dispatcher = node.dispatcher()
    dispatcher._sender = roomy
    task = asyncio.create_task(dispatcher.run())
    try:
        team = await node.teams.create_team("Total")
        hooks = []
        for name in ("a", "b", "c"):
            receiver.plan(f"/{name}", then=Reply(200, delay=0.2))
            hooks.append(await make_webhook(node, team, receiver.url(f"/{name}"), name=name))
        for i in range(8):
            await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": f"{i}"}})
        for hook in hooks:
            await wait_delivery(
                node, team, hook.webhook.id, status=DeliveryStatus.SUCCEEDED, count=8
            )
    finally:
        dispatcher.stop()
        await task
        await roomy.close()
        await node.aclose()
    assert len(receiver.received()) == 24
    assert receiver.max_in_flight_total == 4


async def test_a_short_lease_buffers_nothing_that_would_expire_before_its_turn(
    delivery_settings: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Lease 2.5 s, timeout 1 s, answers in 0.8 s: a delivery buffered behind a full wave would
    start with 1.7 s of lease left, short of the 2 s a send needs, and be given back."""
    settings = replace(
        delivery_settings,
        delivery_timeout=1.0,
        lease_seconds=2.5,
        endpoint_concurrency=2,
        retry_schedule=(60.0,),
    )
    node = await open_container(settings, bootstrap=False)
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:
        team = await node.teams.create_team("Lease")
        receiver.plan("/slow", then=Reply(200, delay=0.8))
        hook = await make_webhook(node, team, receiver.url("/slow"))
        for i in range(6):
            await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": f"{i}"}})
        with caplog.at_level(logging.WARNING, logger="cstar.server.dispatch.dispatcher"):
            await wait_delivery(
                node, team, hook.webhook.id, status=DeliveryStatus.SUCCEEDED, count=6
            )
    finally:
        dispatcher.stop()
        await task
        await node.aclose()
    assert [r.getMessage() for r in caplog.records if "lease" in r.getMessage()] == []
    assert receiver.max_in_flight["/slow"] == 2
