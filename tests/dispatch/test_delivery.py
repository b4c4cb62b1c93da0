"""Deliveries as receivers see them: the contract's wire format, retries, and give-up."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx

from cstar.server.bootstrap import Container
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.webhook import construct_event, verify_header
from tests.dispatch.support import auth, make_webhook, publish, wait_delivery
from tests.receiver import Receiver, Reply

CONTRACT_HEADERS = {
    "content-type",
    "user-agent",
    "x-signature",
    "x-event-type",
    "x-event-id",
    "x-webhook-id",
    "x-timestamp",
    "x-delivery-attempt",
    "x-cstar-request-id",
}


async def test_a_delivery_carries_the_contract_headers_and_verifies(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url(), events="ticket.*")
    published = await publish(
        api, acme, "ticket.created", {"ticket": {"id": "tkt_9", "title": "Cannot log in"}}
    )
    (request,) = await receiver.wait_for(1)

    assert set(request.headers) >= CONTRACT_HEADERS
    assert "cstar-signature" not in request.headers  # only `cstar listen` adds the alias
    assert request.header("content-type") == "application/json"
    assert request.header("user-agent") == "cStar-Webhooks/1.0"
    assert request.header("x-event-type") == "ticket.created"
    assert request.header("x-event-id") == published["data"]["id"]
    assert request.header("x-webhook-id") == hook.webhook.id
    assert request.header("x-delivery-attempt") == "1"
    assert request.header("x-cstar-request-id") == published["meta"]["requestId"]
    signature = request.header("x-signature")
    t = int(signature.split(",")[0].removeprefix("t="))
    assert request.header("x-timestamp") == _iso(t)

    event = construct_event(request.body, signature, hook.secret)
    assert set(event) == {"id", "type", "created_at", "team_id", "data"}
    assert event.id == published["data"]["id"]
    assert event.type == "ticket.created"
    assert event.team_id == acme.team.id
    assert event.data.ticket.title == "Cannot log in"
    assert event.data.ticket.dashboard_url.endswith("/team/acme-support/tickets?selected=tkt_9")
    stored = await node.delivery_store.get_event(acme.team.id, event.id)
    assert stored is not None
    assert stored.payload.encode() == request.body


async def test_retries_send_the_same_bytes_signed_afresh_until_a_2xx(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(500), Reply(503, body=b"busy"))
    await publish(api, acme)
    requests = await receiver.wait_for(3)
    (delivery,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED)

    assert [r.header("x-delivery-attempt") for r in requests] == ["1", "2", "3"]
    assert len({r.body for r in requests}) == 1
    assert len({r.header("x-event-id") for r in requests}) == 1
    attempts = await node.delivery_store.list_attempts(delivery.id)
    assert [a.status_code for a in attempts] == [500, 503, 200]
    for request, attempt in zip(requests, attempts, strict=True):
        signature = request.header("x-signature")
        assert signature == attempt.request_headers["X-Signature"]
        assert signature.startswith(f"t={int(attempt.started_at.timestamp())},")
        verify_header(request.body, signature, hook.secret)
    assert delivery.attempts == 3
    assert delivery.last_status_code == 200
    webhook = await node.webhooks.get(acme.team.id, hook.webhook.id)
    assert webhook.consecutive_failures == 0
    assert webhook.last_delivery_status == 200


async def test_an_event_older_than_the_tolerance_still_verifies(
    node: Container, acme: CreatedTeam, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    """The signature's time is the attempt's, not the event's: a delivery made long after the
    event (a retry hours later) passes a 300-second tolerance."""
    from cstar.server.services.events import EventService

    hook = await make_webhook(node, acme, receiver.url())
    ten_minutes_ago = node.clock() - timedelta(minutes=10)
    past = EventService(
        node.store,
        node.delivery_store,
        node.waker,
        lambda: ten_minutes_ago,
        dashboard_base_url="https://www.cstar.help",
    )
    await past.publish(acme.team.id, "customer.created", {"customer": {"id": "c1"}})
    (request,) = await receiver.wait_for(1)
    event = construct_event(request.body, request.header("x-signature"), hook.secret)
    assert event.created_at == _iso(int(ten_minutes_ago.timestamp()))


async def test_a_delivery_fails_after_the_last_attempt_and_health_counts_it(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", then=Reply(500, body=b"boom"))
    await publish(api, acme)
    (delivery,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.FAILED)
    assert delivery.attempts == 4  # 1 + the 3 retries of the schedule
    assert delivery.next_attempt_at is None
    assert delivery.completed_at is not None
    assert delivery.last_status_code == 500
    assert delivery.last_error == "endpoint answered 500"
    webhook = await node.webhooks.get(acme.team.id, hook.webhook.id)
    assert webhook.consecutive_failures == 4
    assert webhook.last_delivery_status == 500
    assert webhook.last_delivery_success is False
    assert webhook.failing_since is not None
    assert webhook.is_active

    receiver.plan("/hook", then=Reply(200))
    await publish(api, acme)
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED)
    webhook = await node.webhooks.get(acme.team.id, hook.webhook.id)
    assert webhook.consecutive_failures == 0
    assert webhook.failing_since is None


async def test_410_gone_deactivates_the_webhook(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(410))
    await publish(api, acme)
    (delivery,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.FAILED)
    assert delivery.attempts == 1
    webhook = await node.webhooks.get(acme.team.id, hook.webhook.id)
    assert webhook.is_active is False
    assert webhook.disabled_reason == "The endpoint answered 410 Gone"
    shown = (
        await api.get(
            f"/api/v1/teams/{acme.team.id}/webhooks/{hook.webhook.id}",
            headers={"Authorization": f"Bearer {acme.secret_key}"},
        )
    ).json()["data"]
    assert shown["isActive"] is False
    assert shown["disabledReason"].endswith("410 Gone")
    assert (await publish(api, acme))["data"]["deliveriesQueued"] == 0


async def test_retry_after_on_429_is_honoured(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(429, headers={"Retry-After": "120"}))
    await publish(api, acme)
    await receiver.wait_for(1)
    for _ in range(500):
        (delivery,) = await wait_delivery(
            node, acme, hook.webhook.id, status=DeliveryStatus.PENDING
        )
        if delivery.attempts == 1:  # the attempt is recorded
            break
        await asyncio.sleep(0.01)
    assert delivery.attempts == 1
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at - delivery.updated_at >= timedelta(seconds=119)
    assert len(receiver.received()) == 1


async def test_redirects_are_failures_and_not_followed(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url("/old"))
    receiver.plan("/old", then=Reply(302, headers={"Location": receiver.url("/new")}))
    await publish(api, acme)
    (delivery,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.FAILED)
    assert receiver.received("/new") == []
    assert delivery.last_status_code == 302
    assert delivery.last_error is not None
    assert "redirect not followed" in delivery.last_error


async def test_only_a_bounded_prefix_of_the_response_is_stored(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(200, body=b"x" * 500_000))
    await publish(api, acme)
    (delivery,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED)
    (attempt,) = await node.delivery_store.list_attempts(delivery.id)
    assert attempt.response_body == "x" * node.settings.max_response_bytes


async def test_a_slow_endpoint_times_out(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(200, delay=5.0))
    await publish(api, acme)
    await receiver.wait_for(2)  # the first attempt timed out; the retry answers at once
    (delivery,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED)
    first, second = await node.delivery_store.list_attempts(delivery.id)
    assert first.status_code is None
    assert first.error == "timed out after 2s"
    assert 1900 <= first.duration_ms < 4000
    assert second.success


async def test_pausing_a_webhook_pauses_its_retries_and_resuming_delivers_them(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(503, headers={"Retry-After": "30"}))  # next attempt far away
    await publish(api, acme)
    await receiver.wait_for(1)
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.PENDING)
    url = f"/api/v1/teams/{acme.team.id}/webhooks/{hook.webhook.id}"
    headers = {"Authorization": f"Bearer {acme.secret_key}"}
    assert (await api.patch(url, json={"isActive": False}, headers=headers)).status_code == 200
    (paused,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.PAUSED)
    resent = await api.post(
        f"/api/v1/teams/{acme.team.id}/deliveries/{paused.id}/resend", headers=headers
    )
    assert resent.json()["data"]["status"] == "paused"  # waits for the webhook
    assert (await api.patch(url, json={"isActive": True}, headers=headers)).status_code == 200
    await receiver.wait_for(2)
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED)


async def test_during_a_rotation_grace_both_secrets_sign(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    rotated = await node.webhooks.rotate_secret(
        acme.team.id, hook.webhook.id, grace_period=timedelta(hours=1)
    )
    await publish(api, acme)
    (request,) = await receiver.wait_for(1)
    signature = request.header("x-signature")
    assert signature.count("v1=") == 2
    construct_event(request.body, signature, rotated.secret)
    construct_event(request.body, signature, hook.secret)


async def test_the_body_is_the_envelope_as_published(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    await make_webhook(node, acme, receiver.url(), events="boss.defeated")
    data = {"boss": {"id": "b1", "name": "The Backlog", "max_hp": 5000}, "unicode": "ça va ✓"}
    await publish(api, acme, "boss.defeated", data)
    (request,) = await receiver.wait_for(1)
    body = json.loads(request.body)
    assert body["data"] == data
    assert body["created_at"].endswith("Z")


def _iso(unix: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_connections_are_pooled_and_kept_alive(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    await make_webhook(node, acme, receiver.url())
    for _ in range(40):
        await publish(api, acme)
        await asyncio.sleep(0.01)
    requests = await receiver.wait_for(40)
    connections = {r.peer for r in requests}
    assert None not in connections
    assert len(connections) <= 4, connections  # 40 deliveries over a handful of connections


async def test_deleting_a_webhook_mid_send_does_not_stall_the_dispatcher(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    """The attempt in flight has nowhere to be recorded once its webhook (and its deliveries)
    are gone: it is dropped, and the dispatcher goes on with everything else."""
    receiver.plan("/slow", then=Reply(delay=0.5))
    doomed = await make_webhook(node, acme, receiver.url("/slow"), events="ticket.created")
    await publish(api, acme, "ticket.created")
    await receiver.wait_for(1, "/slow")  # in flight now
    deleted = await api.delete(
        f"/api/v1/teams/{acme.team.id}/webhooks/{doomed.webhook.id}", headers=auth(acme)
    )
    assert deleted.status_code == 200
    await asyncio.sleep(0.7)  # the slow answer arrives and its attempt is recorded (or not)

    survivor = await make_webhook(node, acme, receiver.url("/fine"), events="customer.created")
    await publish(api, acme, "customer.created")
    (delivered,) = await wait_delivery(
        node, acme, survivor.webhook.id, status=DeliveryStatus.SUCCEEDED, timeout=10
    )
    assert delivered.attempts == 1
