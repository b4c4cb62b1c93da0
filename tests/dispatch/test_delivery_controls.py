"""Per-endpoint delivery controls, delivered for real (issue 13), on SQLite and PostgreSQL:
Standard Webhooks signatures checked by the ``standardwebhooks`` and ``svix`` libraries, custom
headers (sent, never logged), per-endpoint timeouts, FIFO order with retries and two workers,
and a rate limit shared by two workers, measured at the receiver."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import standardwebhooks
import svix.webhooks

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.dispatch.dispatcher import PACE_LATE, Dispatcher
from cstar.server.dispatch.outcome import REDACTED
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.domain.pagination import PageRequest
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft, WebhookUpdate, WithSecret
from cstar.server.store.contract import CycleResult, DeliveryFilter
from cstar.server.store.deliveries import SqlDeliveryStore
from cstar.webhook import construct_event
from tests.dispatch.support import running, wait_delivery
from tests.receiver import Received, Receiver, Reply


async def _hook(node: Container, team: CreatedTeam, url: str, **controls: object) -> WithSecret:
    draft = WebhookDraft(name="hook", url=url, events="*", **controls)  # type: ignore[arg-type]
    return await node.webhooks.create(team.team.id, draft)


async def _publish(node: Container, team: CreatedTeam, count: int) -> list[str]:
    ids = []
    for i in range(count):
        outcome = await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": i}})
        ids.append(outcome.event.id)
    return ids


def _verify_both_libraries(request: Received, secret: str) -> None:
    headers = dict(request.headers)
    standardwebhooks.Webhook(secret).verify(request.body, headers)
    svix.webhooks.Webhook(secret).verify(request.body, headers)


@pytest.fixture
async def workers(node: Container) -> AsyncIterator[list[Dispatcher]]:
    """Two dispatchers, as two worker processes would be: separate ids, one database."""
    running = [node.dispatcher(worker_id=f"worker-{i}") for i in range(2)]
    tasks = [asyncio.create_task(d.run()) for d in running]
    try:
        yield running
    finally:
        for d in running:
            d.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


# -- Standard Webhooks -----------------------------------------------------------------------


async def test_standard_webhooks_deliveries_and_retries_verify_with_both_libraries(
    node: Container, acme: CreatedTeam, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    created = await _hook(node, acme, receiver.url("/std"), signature_scheme="standard-webhooks")
    receiver.plan("/std", Reply(500), Reply(503))
    [event_id] = await _publish(node, acme, 1)
    arrived = await receiver.wait_for(3, "/std")
    for request in arrived:
        _verify_both_libraries(request, created.secret)
        assert request.header("webhook-id") == event_id  # the same on every attempt
        assert "x-signature" not in request.headers
        assert request.header("x-event-id") == event_id
        assert construct_event(request.body, request.headers, created.secret)["id"] == event_id
    assert [r.header("x-delivery-attempt") for r in arrived] == ["1", "2", "3"]
    await wait_delivery(node, acme, created.webhook.id, status=DeliveryStatus.SUCCEEDED)


async def test_a_rotation_signs_with_both_secrets_each_verifying_alone(
    node: Container, acme: CreatedTeam, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    created = await _hook(node, acme, receiver.url("/rot"), signature_scheme="standard-webhooks")
    rotated = await node.webhooks.rotate_secret(
        acme.team.id, created.webhook.id, grace_period=timedelta(hours=1)
    )
    await _publish(node, acme, 1)
    [request] = await receiver.wait_for(1, "/rot")
    assert len(request.header("webhook-signature").split(" ")) == 2
    for secret in (created.secret, rotated.secret):
        _verify_both_libraries(request, secret)


async def test_a_webhook_switched_to_standard_webhooks_keeps_its_secret(
    node: Container, acme: CreatedTeam, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    created = await _hook(node, acme, receiver.url("/switch"))
    await node.webhooks.update(
        acme.team.id, created.webhook.id, WebhookUpdate(signature_scheme="standard-webhooks")
    )
    await _publish(node, acme, 1)
    [request] = await receiver.wait_for(1, "/switch")
    _verify_both_libraries(request, created.secret)


# -- custom headers and timeouts -------------------------------------------------------------


async def test_custom_headers_are_sent_and_never_logged(
    node: Container, acme: CreatedTeam, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    created = await _hook(
        node,
        acme,
        receiver.url("/custom"),
        headers={"Authorization": "Bearer s3cr3t", "X-Tenant": "acme-42"},
    )
    receiver.plan("/custom", Reply(500))
    await _publish(node, acme, 1)
    arrived = await receiver.wait_for(2, "/custom")
    for request in arrived:
        assert request.header("authorization") == "Bearer s3cr3t"
        assert request.header("x-tenant") == "acme-42"
        assert request.header("x-signature").startswith("t=")
    [delivery] = await wait_delivery(
        node, acme, created.webhook.id, status=DeliveryStatus.SUCCEEDED
    )
    attempts = await node.delivery_store.list_attempts(delivery.id)
    assert len(attempts) == 2
    for attempt in attempts:
        assert attempt.request_headers["Authorization"] == REDACTED
        assert attempt.request_headers["X-Tenant"] == REDACTED
        assert "s3cr3t" not in str(attempt.request_headers)
        assert attempt.request_headers["X-Signature"].startswith("t=")


async def test_a_test_send_carries_the_scheme_and_headers_and_logs_them_redacted(
    node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    created = await _hook(
        node,
        acme,
        receiver.url("/test-send"),
        signature_scheme="standard-webhooks",
        headers={"X-Api-Key": "k-123"},
    )
    result = await node.deliveries.send_test(
        acme.team.id, created.webhook.id, "ticket.created", request_id=None
    )
    [request] = receiver.received("/test-send")
    _verify_both_libraries(request, created.secret)
    assert request.header("x-api-key") == "k-123"
    [attempt] = await node.delivery_store.list_attempts(result.delivery_id)
    assert attempt.request_headers["X-Api-Key"] == REDACTED


async def test_the_webhooks_timeout_replaces_the_servers(
    node: Container, acme: CreatedTeam, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    # The server's timeout is 2 s (delivery_settings); this endpoint's is 1 s.
    created = await _hook(node, acme, receiver.url("/slow"), timeout_seconds=1)
    receiver.plan("/slow", Reply(200, delay=1.6), then=Reply(200))
    await _publish(node, acme, 1)
    [delivery] = await wait_delivery(
        node, acme, created.webhook.id, status=DeliveryStatus.SUCCEEDED
    )
    first, second = await node.delivery_store.list_attempts(delivery.id)
    assert first.error == "timed out after 1s"
    assert 900 <= first.duration_ms < 1500
    assert second.success


# -- FIFO ------------------------------------------------------------------------------------


async def test_fifo_sends_in_publish_order_one_at_a_time_with_retries_and_two_workers(
    node: Container, acme: CreatedTeam, receiver: Receiver, workers: list[Dispatcher]
) -> None:
    created = await _hook(node, acme, receiver.url("/fifo"), ordering="fifo")
    # The first event fails twice, the third once: the queue waits for their retries.
    receiver.plan(
        "/fifo",
        Reply(500, delay=0.02),
        Reply(500, delay=0.02),
        Reply(200, delay=0.02),
        Reply(200, delay=0.02),
        Reply(503, delay=0.02),
        then=Reply(200, delay=0.02),
    )
    published = await _publish(node, acme, 12)
    arrived = await receiver.wait_for(15, "/fifo", timeout=30)
    await wait_delivery(node, acme, created.webhook.id, status=DeliveryStatus.SUCCEEDED, count=12)
    order = [r.header("x-event-id") for r in arrived]
    expected = [published[0]] * 3 + [published[1]] + [published[2]] * 2 + published[3:]
    assert order == expected
    assert receiver.max_in_flight["/fifo"] == 1


async def test_fifo_moves_on_after_a_final_failure(
    node: Container, acme: CreatedTeam, receiver: Receiver, workers: list[Dispatcher]
) -> None:
    created = await _hook(node, acme, receiver.url("/fifo-fail"), ordering="fifo")
    # delivery_settings: three retries, so the first event fails for good after 4 attempts.
    receiver.plan("/fifo-fail", *[Reply(500)] * 4)
    published = await _publish(node, acme, 3)
    arrived = await receiver.wait_for(6, "/fifo-fail", timeout=30)
    assert [r.header("x-event-id") for r in arrived] == [published[0]] * 4 + published[1:]
    [failed] = await wait_delivery(node, acme, created.webhook.id, status=DeliveryStatus.FAILED)
    assert failed.event_id == published[0]
    await wait_delivery(node, acme, created.webhook.id, status=DeliveryStatus.SUCCEEDED, count=2)


async def test_fifo_can_be_switched_on_and_off_with_work_waiting(
    node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    """No dispatcher runs while the ordering changes: what waits follows the new setting."""
    created = await _hook(node, acme, receiver.url("/switch-fifo"), ordering="fifo")
    published = await _publish(node, acme, 4)
    waiting = await wait_delivery(
        node, acme, created.webhook.id, status=DeliveryStatus.PENDING, count=4
    )
    assert all(d.next_attempt_at is None for d in waiting)
    await node.webhooks.update(acme.team.id, created.webhook.id, WebhookUpdate(ordering="none"))
    due = await wait_delivery(
        node, acme, created.webhook.id, status=DeliveryStatus.PENDING, count=4
    )
    assert all(d.next_attempt_at is not None for d in due)
    await node.webhooks.update(acme.team.id, created.webhook.id, WebhookUpdate(ordering="fifo"))
    async with running(node):
        arrived = await receiver.wait_for(4, "/switch-fifo")
    assert [r.header("x-event-id") for r in arrived] == published
    assert receiver.max_in_flight["/switch-fifo"] == 1


async def test_a_fifo_webhook_does_not_hold_up_other_endpoints(
    node: Container, acme: CreatedTeam, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    await _hook(node, acme, receiver.url("/stuck"), ordering="fifo")
    # Slow to fail: the head's four attempts outlast the other endpoint's twenty deliveries
    # (after its last, the queue moves on).
    receiver.plan("/stuck", then=Reply(500, delay=0.5))
    other = await _hook(node, acme, receiver.url("/free"))
    await _publish(node, acme, 20)
    await wait_delivery(node, acme, other.webhook.id, status=DeliveryStatus.SUCCEEDED, count=20)
    # Only the head was tried (and retried); the 19 behind it wait.
    assert {r.header("x-event-id") for r in receiver.received("/stuck")} == {
        receiver.received("/stuck")[0].header("x-event-id")
    }


# -- rate limits -----------------------------------------------------------------------------

RATE = 10
RATED_EVENTS = 35


def _most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


async def test_the_rate_limit_holds_across_two_workers_at_the_receiver(
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    workers: list[Dispatcher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    limited = await _hook(node, acme, receiver.url("/limited"), rate_limit=RATE)
    free = await _hook(node, acme, receiver.url("/free"))
    began = time.time()
    await _publish(node, acme, RATED_EVENTS)
    # The unlimited endpoint is not held back by the limited one's queue.
    await wait_delivery(
        node, acme, free.webhook.id, status=DeliveryStatus.SUCCEEDED, count=RATED_EVENTS
    )
    free_done = time.time() - began
    arrived = await receiver.wait_for(RATED_EVENTS, "/limited", timeout=30)
    await wait_delivery(
        node, acme, limited.webhook.id, status=DeliveryStatus.SUCCEEDED, count=RATED_EVENTS
    )
    times = [r.at for r in arrived]
    assert _most_in_any_second(times) <= RATE + 1, sorted(t - times[0] for t in times)
    spread = max(times) - min(times)
    # Paced, not starved: 35 at 10 a second take about 3.4 s.
    assert (RATED_EVENTS - 1) / RATE - 0.2 <= spread <= (RATED_EVENTS - 1) / RATE + 2.0
    assert free_done < 2.0
    # Both workers took part, and waiting for a slot failed nothing.
    assert all(d.recorded for d in workers)
    # Publishing and the two workers' cycles never waited on each other into a deadlock (its
    # victim's cycle, rolled back, would log the database as unavailable).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    failed = await node.delivery_store.list_deliveries(
        acme.team.id, DeliveryFilter(status=DeliveryStatus.FAILED), PageRequest()
    )
    assert failed.items == []


async def test_a_delivery_that_missed_its_slot_is_given_back_not_sent_in_a_burst(
    delivery_settings: Settings, receiver: Receiver
) -> None:
    # One sending slot in the whole process, held 0.4 s at a time by a slow endpoint: the
    # rate-limited deliveries whose slots pass meanwhile must not all go out when it frees.
    node = await open_container(replace(delivery_settings, dispatch_concurrency=1), bootstrap=False)
    try:
        acme = await node.teams.create_team("Acme Support")
        paced = WebhookDraft(
            name="paced", url=receiver.url("/paced"), events="ticket.created", rate_limit=RATE
        )
        limited = await node.webhooks.create(acme.team.id, paced)
        slow = WebhookDraft(name="slow", url=receiver.url("/slow"), events="ticket.closed")
        await node.webhooks.create(acme.team.id, slow)
        receiver.plan("/slow", then=Reply(delay=0.4))
        async with running(node):
            for i in range(3):
                await node.events.publish(acme.team.id, "ticket.closed", {"n": i})
            await _publish(node, acme, 20)
            arrived = await receiver.wait_for(20, "/paced", timeout=30)
            done = await wait_delivery(
                node, acme, limited.webhook.id, status=DeliveryStatus.SUCCEEDED, count=20
            )
        times = [r.at for r in arrived]
        assert _most_in_any_second(times) <= RATE + 1, sorted(t - times[0] for t in times)
        assert {d.attempts for d in done} == {1}  # given back is not an attempt
    finally:
        await node.aclose()


class _DistantStore:
    """The real delivery store, whose cycles' answers come back 0.12 s late (a database far
    away): every slot is past on arrival, by more than the dispatcher's lateness allowance."""

    def __init__(self, store: SqlDeliveryStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def record_and_claim(self, *args: Any, **kwargs: Any) -> CycleResult:
        result = await self._store.record_and_claim(*args, **kwargs)
        await asyncio.sleep(0.12)
        return result


async def test_a_database_slow_to_answer_still_paces_rather_than_starves(
    node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    # At 100 a second the pace moves on 10 ms a slot: a slot handed out for "now" would be
    # 120 ms past on every arrival, given back every time, and the endpoint starved. Slots
    # start once the answer is expected instead.
    limited = await _hook(node, acme, receiver.url("/far"), rate_limit=100)
    distant = replace(node, delivery_store=_DistantStore(node.delivery_store))
    async with running(distant):
        for i in range(1, 4):  # one at a time: each finds the endpoint idle
            await _publish(node, acme, 1)
            await receiver.wait_for(i, "/far", timeout=3)
        await _publish(node, acme, 20)
        arrived = await receiver.wait_for(23, "/far", timeout=10)
        done = await wait_delivery(
            node, acme, limited.webhook.id, status=DeliveryStatus.SUCCEEDED, count=23
        )
    times = [r.at for r in arrived]
    assert _most_in_any_second(times) <= 100 + 1
    assert {d.attempts for d in done} == {1}


async def test_a_resent_fifo_delivery_goes_before_the_later_ones_still_waiting(
    node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    created = await _hook(node, acme, receiver.url("/fifo-resend"), ordering="fifo")
    receiver.plan("/fifo-resend", *[Reply(500)] * 4)  # the first event fails for good
    async with running(node):
        [first] = await _publish(node, acme, 1)
        [failed] = await wait_delivery(node, acme, created.webhook.id, status=DeliveryStatus.FAILED)
    later = await _publish(node, acme, 2)
    resent = await node.deliveries.resend(acme.team.id, failed.id)
    assert resent.next_attempt_at is None  # it waits for its turn, like the others
    async with running(node):
        arrived = await receiver.wait_for(7, "/fifo-resend")
    assert [r.header("x-event-id") for r in arrived[4:]] == [first, *later]
    assert receiver.max_in_flight["/fifo-resend"] == 1


async def test_a_rate_limited_backlog_waits_out_of_sight_and_a_limit_can_be_lifted(
    node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    """No dispatcher runs while the limit changes. A rate-limited webhook's deliveries wait with
    no due time (claims make due only as many as its free slots, so its backlog never fills a
    claim's window); lifting the limit makes them all due, setting one again holds them."""
    created = await _hook(node, acme, receiver.url("/paced"), rate_limit=20)
    published = await _publish(node, acme, 6)
    waiting = await wait_delivery(
        node, acme, created.webhook.id, status=DeliveryStatus.PENDING, count=6
    )
    assert all(d.next_attempt_at is None for d in waiting)
    await node.webhooks.update(acme.team.id, created.webhook.id, WebhookUpdate(rate_limit=None))
    due = await wait_delivery(
        node, acme, created.webhook.id, status=DeliveryStatus.PENDING, count=6
    )
    assert all(d.next_attempt_at is not None for d in due)
    await node.webhooks.update(acme.team.id, created.webhook.id, WebhookUpdate(rate_limit=20))
    async with running(node):
        arrived = await receiver.wait_for(6, "/paced")
    assert sorted(r.header("x-event-id") for r in arrived) == sorted(published)
    # Paced again: slots 1/20 s apart (a send starts at its slot, at most PACE_LATE after).
    assert arrived[-1].at - arrived[0].at >= 5 / 20 - PACE_LATE.total_seconds()
    gaps = [b.at - a.at for a, b in itertools.pairwise(arrived)]
    assert sum(1 for gap in gaps if gap < 0.03) <= 1, gaps
