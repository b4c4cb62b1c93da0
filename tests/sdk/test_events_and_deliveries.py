"""Publishing, the catalog, test sends, delivery logs, resend and recover, and API keys,
through both clients against the real server and a real receiver."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from cstar import events as catalog
from cstar.sdk import (
    ApiKey,
    AuthenticationError,
    Delivery,
    DeliveryDetail,
    EventType,
    PermissionDeniedError,
    PublishedEvent,
    RecoverResult,
    TestResult,
    TriggerResult,
    ValidationError,
)
from cstar.webhook import construct_event
from tests.receiver import Reply
from tests.sdk.servers import ApiServer, ThreadedReceiver
from tests.sdk.support import (
    AnyClient,
    Flavor,
    close_client,
    collect,
    eventually,
    first_page,
    make_client,
)
from tests.sdk.support import resolve as r

pytestmark = pytest.mark.e2e


async def test_catalog_lists_every_event_type_or_one_category(client: AnyClient) -> None:
    everything = await r(client.events.catalog())
    assert [e.type for e in everything] == [e.name for e in catalog.EVENT_TYPES]
    assert all(isinstance(e, EventType) for e in everything)
    tickets = await r(client.events.catalog(category="tickets"))
    assert tickets
    assert {e.category for e in tickets} == {"tickets"}
    created = next(e for e in tickets if e.type == "ticket.created")
    assert (created.resource, created.action, created.category_title) == (
        "ticket",
        "created",
        "Tickets",
    )
    assert "ticket" in created.sample
    with pytest.raises(ValidationError) as caught:
        await r(client.events.catalog(category="nope"))
    assert caught.value.param == "category"


async def test_publish_is_idempotent_with_a_key_and_distinct_without(client: AnyClient) -> None:
    key = f"order-{secrets.token_hex(6)}"
    data = {"ticket": {"id": "t-1", "title": "Printer on fire"}}
    first = await r(client.events.publish("ticket.created", data, idempotency_key=key))
    assert isinstance(first, PublishedEvent)
    assert first.id.startswith("evt_ticket_created_")
    assert (first.type, first.replayed) == ("ticket.created", False)
    again = await r(client.events.publish("ticket.created", data, idempotency_key=key))
    assert (again.id, again.replayed) == (first.id, True)

    one = await r(client.events.publish("ticket.created", data))
    two = await r(client.events.publish("ticket.created", data))
    assert one.id != two.id
    assert not one.replayed
    assert not two.replayed


async def test_publish_batch_answers_in_order_replays_keys_and_names_a_bad_item(
    client: AnyClient,
) -> None:
    key = f"batch-{secrets.token_hex(6)}"
    events = [
        {"type": "ticket.created", "data": {"ticket": {"id": "t-1"}}, "idempotency_key": key},
        {"type": "customer.created", "data": {"customer": {"id": "c-1"}}},
        {"type": "ticket.updated", "data": {"ticket": {"id": "t-1"}}, "idempotency_key": key},
    ]
    results = await r(client.events.publish_batch(events))
    assert all(isinstance(p, PublishedEvent) for p in results)
    assert [p.type for p in results] == ["ticket.created", "customer.created", "ticket.created"]
    assert [p.replayed for p in results] == [False, False, True]
    assert results[2].id == results[0].id
    again = await r(client.events.publish_batch(events[:1]))
    assert (again[0].id, again[0].replayed) == (results[0].id, True)

    with pytest.raises(ValidationError) as caught:
        await r(client.events.publish_batch([events[1], {"type": "ticket.nope", "data": {}}]))
    assert caught.value.param == "events[1].type"
    with pytest.raises(TypeError):
        await r(client.events.publish_batch([{"type": "ticket.created", "data": [1]}]))


async def test_test_send_and_the_delivery_log(
    client: AnyClient, receiver: ThreadedReceiver, hook_path: str
) -> None:
    webhook = await r(
        client.webhooks.create(url=receiver.url(hook_path), events=["ticket.created"])
    )
    assert webhook.secret is not None
    result = await r(client.webhooks.test(webhook.id, "ticket.created"))
    assert isinstance(result, TestResult)
    assert (result.success, result.status, result.event) == (True, 200, "ticket.created")
    assert result.url == receiver.url(hook_path)
    assert result.error is None
    (request,) = await receiver.wait_for(1, hook_path)
    event = construct_event(request.body, request.header("x-signature"), webhook.secret)
    assert event.type == "ticket.created"

    listed = await collect(client.webhooks.deliveries(webhook.id))
    assert result.delivery_id in {d.id for d in listed}
    same = await collect(client.deliveries.list(webhook.id, event_type="ticket.created"))
    assert [d.id for d in same] == [d.id for d in listed]
    assert all(isinstance(d, Delivery) for d in listed)

    detail = await r(client.deliveries.get(result.delivery_id))
    assert isinstance(detail, DeliveryDetail)
    assert (detail.webhook_id, detail.event_type) == (webhook.id, "ticket.created")
    assert detail.payload["id"] == event.id
    (attempt,) = detail.attempts
    assert (attempt.attempt, attempt.status, attempt.success) == (1, 200, True)
    assert attempt.started_at.tzinfo is not None
    assert attempt.request_headers["X-Signature"] == request.header("x-signature")


async def test_trigger_test_queues_a_sample_for_subscribers(
    client: AnyClient, receiver: ThreadedReceiver, hook_path: str
) -> None:
    webhook = await r(client.webhooks.create(url=receiver.url(hook_path), events="ticket.closed"))
    result = await r(client.webhooks.trigger_test("ticket.closed"))
    assert isinstance(result, TriggerResult)
    assert (result.event, result.test) == ("ticket.closed", True)
    assert result.event_id.startswith("evt_ticket_closed_")
    assert result.delivered_to == len(result.deliveries) >= 1
    assert webhook.id in {d.webhook_id for d in result.deliveries}
    (request,) = await receiver.wait_for(1, hook_path)
    assert request.header("x-event-id") == result.event_id


async def test_failed_deliveries_are_recovered_and_resent(
    client: AnyClient, receiver: ThreadedReceiver, hook_path: str
) -> None:
    receiver.plan(hook_path, then=Reply(status=500))
    since = datetime.now(UTC) - timedelta(minutes=1)
    webhook = await r(client.webhooks.create(url=receiver.url(hook_path), events="customer.*"))
    try:
        await _fail_recover_resend(client, receiver, hook_path, webhook.id, since)
    finally:
        await r(client.webhooks.delete(webhook.id))


async def _fail_recover_resend(
    client: AnyClient, receiver: ThreadedReceiver, hook_path: str, webhook_id: str, since: datetime
) -> None:
    published = await r(client.events.publish("customer.created", {"customer": {"id": "c-1"}}))
    assert published.deliveries_queued >= 1

    async def failed() -> Delivery | None:
        page = await collect(client.webhooks.deliveries(webhook_id, status="failed"))
        return page[0] if page else None

    delivery = await eventually(failed)
    assert (delivery.event_id, delivery.last_status) == (published.id, 500)
    assert delivery.attempt_count == 2

    receiver.plan(hook_path, then=Reply(status=200))
    recovered = await r(client.webhooks.recover(webhook_id, since=since))
    assert isinstance(recovered, RecoverResult)
    assert (recovered.webhook_id, recovered.requeued) == (webhook_id, 1)

    async def succeeded() -> DeliveryDetail | None:
        detail = await r(client.deliveries.get(delivery.id))
        return detail if detail.status == "succeeded" else None

    done = await eventually(succeeded)
    assert [a.status for a in done.attempts] == [500, 500, 200]

    resent = await r(client.deliveries.resend(delivery.id))
    assert isinstance(resent, Delivery)
    assert (resent.id, resent.status) == (delivery.id, "pending")
    arrived = await receiver.wait_for(4, hook_path)
    assert {a.header("x-event-id") for a in arrived} == {published.id}


async def test_api_keys_are_created_listed_and_revoked(
    client: AnyClient, api_server: ApiServer, flavor: Flavor
) -> None:
    created = await r(client.keys.create(name="ci deploys"))
    assert isinstance(created, ApiKey)
    assert (created.type, created.mode, created.name) == ("secret", "test", "ci deploys")
    assert created.key is not None
    assert created.key.startswith("sk_test_")
    assert created.key not in repr(created)
    assert created.key.endswith(created.last4)

    listed = {k.id: k for k in await collect(client.keys.list(limit=1))}
    assert created.id in listed
    assert listed[created.id].key is None

    publishable = await r(client.keys.create(type="publishable"))
    assert publishable.key is not None
    assert publishable.key.startswith("pk_test_")
    reader = make_client(flavor, **{**api_server.client_kwargs(), "api_key": publishable.key})
    try:
        assert await r(reader.events.catalog(category="surveys"))
        with pytest.raises(PermissionDeniedError):
            await first_page(reader.webhooks.list())
    finally:
        await close_client(reader)

    revoked = await r(client.keys.revoke(created.id))
    assert (revoked.id, revoked.is_active) == (created.id, False)
    assert revoked.revoked_at is not None
    old = make_client(flavor, **{**api_server.client_kwargs(), "api_key": created.key})
    try:
        with pytest.raises(AuthenticationError):
            await first_page(old.webhooks.list())
    finally:
        await close_client(old)
