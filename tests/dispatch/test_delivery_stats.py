"""Delivery statistics over real sends: a running dispatcher counts exactly the attempts it
logs, each in its webhook's hour and latency bucket and by outcome; a test send counts nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx

from cstar.server.bootstrap import Container
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.domain.pagination import PageRequest
from cstar.server.domain.stats import HourlyStats, hour_of, latency_bucket
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.contract import DeliveryFilter
from tests.dispatch.support import auth, make_webhook, publish, wait_delivery
from tests.receiver import Receiver, Reply


async def attempt_counts(node: Container, team: CreatedTeam, webhook_id: str) -> Counter[object]:
    """What the attempt log holds for a webhook, counted as the statistics count it."""
    page = await node.delivery_store.list_deliveries(
        team.team.id, DeliveryFilter(webhook_id=webhook_id), PageRequest(limit=100)
    )
    counts: Counter[object] = Counter()
    for delivery in page.items:
        attempts = await node.delivery_store.list_attempts(delivery.id)
        for attempt in attempts:
            hour = hour_of(attempt.started_at)
            if attempt.success:
                outcome = "succeeded"
            elif attempt is attempts[-1] and delivery.status is DeliveryStatus.FAILED:
                outcome = "failed"
            else:
                outcome = "retrying"
            counts[(hour, outcome)] += 1
            counts[(hour, latency_bucket(attempt.duration_ms))] += 1
    return counts


def stats_counts(stats: list[HourlyStats], webhook_id: str) -> Counter[object]:
    counts: Counter[object] = Counter()
    for row in stats:
        if row.webhook_id != webhook_id:
            continue
        for outcome in ("succeeded", "retrying", "failed"):
            counts[(row.hour, outcome)] += getattr(row, outcome)
        for bucket, count in enumerate(row.latency):
            counts[(row.hour, bucket)] += count
    return +counts  # without the zeros


async def test_statistics_count_what_the_dispatcher_logs_and_not_test_sends(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    # The schedule allows four attempts: /flaky succeeds at the third, /down never does, and
    # /gone answers 410 Gone (failed for good at once).
    receiver.plan("/flaky", Reply(500), Reply(500), then=Reply(200))
    receiver.plan("/down", then=Reply(503))
    receiver.plan("/gone", then=Reply(410))
    flaky = (await make_webhook(node, acme, receiver.url("/flaky"), name="flaky")).webhook.id
    down = (await make_webhook(node, acme, receiver.url("/down"), name="down")).webhook.id
    gone = (await make_webhook(node, acme, receiver.url("/gone"), name="gone")).webhook.id
    started = node.clock()
    await publish(api, acme)
    await wait_delivery(node, acme, flaky, status=DeliveryStatus.SUCCEEDED)
    await wait_delivery(node, acme, down, status=DeliveryStatus.FAILED)
    await wait_delivery(node, acme, gone, status=DeliveryStatus.FAILED)

    since = started - timedelta(hours=1)
    stats = await node.delivery_store.hourly_stats(acme.team.id, [flaky, down, gone], since=since)
    totals = {
        webhook: (
            sum(s.succeeded for s in stats if s.webhook_id == webhook),
            sum(s.retrying for s in stats if s.webhook_id == webhook),
            sum(s.failed for s in stats if s.webhook_id == webhook),
        )
        for webhook in (flaky, down, gone)
    }
    assert totals == {flaky: (1, 2, 0), down: (0, 3, 1), gone: (0, 0, 1)}
    for webhook in (flaky, down, gone):
        assert stats_counts(stats, webhook) == await attempt_counts(node, acme, webhook)

    # A test send is logged as an attempt, but counts neither towards health nor here.
    response = await api.post(
        f"/api/v1/teams/{acme.team.id}/webhooks/{flaky}/test",
        json={"event": "ticket.created"},
        headers=auth(acme),
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["success"] is True
    assert len(receiver.received("/flaky")) == 4
    again = await node.delivery_store.hourly_stats(acme.team.id, [flaky, down, gone], since=since)
    assert again == stats
