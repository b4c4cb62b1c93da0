"""The delivery API: publish, logs, resend, recover, test and trigger-test, over real sends."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.webhook import construct_event
from tests.dispatch.support import auth, make_webhook, publish, wait_delivery
from tests.helpers import assert_error, assert_success
from tests.receiver import Receiver, Reply


def team_url(team: CreatedTeam, path: str) -> str:
    return f"/api/v1/teams/{team.team.id}{path}"


# -- publishing ------------------------------------------------------------------------------


async def test_publish_answers_202_with_the_event_and_the_number_queued(
    api: httpx.AsyncClient, node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    await make_webhook(node, acme, receiver.url(), events="ticket.*")
    await make_webhook(node, acme, receiver.url(), events="*")
    await make_webhook(node, acme, receiver.url(), events="customer.created")
    body = await publish(api, acme, "ticket.closed")
    data = body["data"]
    assert data["deliveriesQueued"] == 2
    assert data["replayed"] is False
    assert data["type"] == "ticket.closed"
    assert data["id"].startswith("evt_ticket_closed_")
    millis = int(data["id"].split("_")[3])
    assert abs(millis / 1000 - node.clock().timestamp()) < 60


async def test_an_idempotency_key_returns_the_first_event_and_queues_nothing(
    api: httpx.AsyncClient, node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    first = await publish(api, acme, idempotencyKey="order-42")
    response = await api.post(
        team_url(acme, "/events"),
        json={"type": "ticket.created", "data": {"x": 1}, "idempotencyKey": "order-42"},
        headers=auth(acme),
    )
    again = assert_success(response, 202)
    assert again["id"] == first["data"]["id"]
    assert again["replayed"] is True
    assert again["deliveriesQueued"] == 1
    assert response.headers["idempotent-replayed"] == "true"
    concurrent = await asyncio.gather(
        *(publish(api, acme, idempotencyKey="burst") for _ in range(6))
    )
    assert len({r["data"]["id"] for r in concurrent}) == 1
    listed = await api.get(
        team_url(acme, f"/webhooks/{hook.webhook.id}/deliveries"), headers=auth(acme)
    )
    assert len(assert_success(listed)) == 2  # order-42 and burst: one delivery each
    other = await publish(api, acme, idempotencyKey="order-43")
    assert other["data"]["id"] != first["data"]["id"]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"type": "ticket.exploded", "data": {}}, "PARAMETER_INVALID", "type"),
        ({"type": "ticket.*", "data": {}}, "PARAMETER_INVALID", "type"),
        ({"type": "ticket.created", "data": [1, 2]}, "PARAMETER_INVALID", "data"),
        ({"type": "ticket.created", "data": "x"}, "PARAMETER_INVALID", "data"),
        ({"data": {}}, "PARAMETER_MISSING", "type"),
        ({"type": "ticket.created"}, "PARAMETER_MISSING", "data"),
        (
            {"type": "ticket.created", "data": {}, "idempotencyKey": "k" * 256},
            "PARAMETER_INVALID",
            "idempotencyKey",
        ),
        (
            {"type": "ticket.created", "data": {}, "idempotencyKey": ""},
            "PARAMETER_INVALID",
            "idempotencyKey",
        ),
        ({"type": "ticket.created", "data": {}, "extra": 1}, "PARAMETER_INVALID", "extra"),
    ],
)
async def test_publish_rejects_bad_input(
    api: httpx.AsyncClient, acme: CreatedTeam, body: dict[str, Any], code: str, param: str
) -> None:
    response = await api.post(team_url(acme, "/events"), json=body, headers=auth(acme))
    assert_error(response, 400, "validation_error", code, param=param)


async def test_fan_out_to_a_thousand_webhooks_is_one_statement(
    api: httpx.AsyncClient, node: Container, acme: CreatedTeam
) -> None:
    for i in range(1000):
        await make_webhook(node, acme, f"https://hooks{i}.example.com/in", events="customer.*")
    await make_webhook(node, acme, "https://other.example.com/in", events="ticket.*")
    statements: list[str] = []

    import sqlalchemy as sa

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    def trace(on: bool) -> Any:
        # SQLite's hot statements go straight to the driver: count them where it runs them.
        def work(conn: Any) -> None:
            raw = conn.connection.dbapi_connection
            if hasattr(raw, "set_trace_callback"):
                raw.set_trace_callback(statements.append if on else None)

        return work

    sa.event.listen(node.database.write_engine, "before_cursor_execute", record)
    await node.database.write(trace(True))
    try:
        body = await publish(api, acme, "customer.updated", {"customer": {"id": "c"}})
    finally:
        await node.database.write(trace(False))
        sa.event.remove(node.database.write_engine, "before_cursor_execute", record)
    assert body["data"]["deliveriesQueued"] == 1000
    inserts = [
        s for s in statements if " ".join(s.split()).upper().startswith("INSERT INTO DELIVERIES")
    ]
    assert len(inserts) == 1


# -- test sends and trigger-test --------------------------------------------------------------


async def test_test_send_answers_the_result_of_seed_000(
    api: httpx.AsyncClient, node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    hook = await make_webhook(node, acme, receiver.url(), events="customer.created")
    response = await api.post(
        team_url(acme, f"/webhooks/{hook.webhook.id}/test"),
        json={"event": "ticket.created"},
        headers=auth(acme),
    )
    result = assert_success(response)
    assert set(result) == {
        "deliveryId",
        "event",
        "url",
        "success",
        "status",
        "responseTimeMs",
        "error",
    }
    assert result["success"] is True
    assert result["status"] == 200
    assert result["error"] is None
    assert result["event"] == "ticket.created"
    assert result["url"] == receiver.url()
    assert isinstance(result["responseTimeMs"], int)
    (request,) = receiver.received()
    event = construct_event(request.body, request.header("x-signature"), hook.secret)
    assert event.type == "ticket.created"
    assert "dashboard_url" in event.data.ticket
    assert request.header("x-cstar-request-id") == response.headers["x-request-id"]
    detail = assert_success(
        await api.get(team_url(acme, f"/deliveries/{result['deliveryId']}"), headers=auth(acme))
    )
    assert detail["status"] == "succeeded"
    assert len(detail["attempts"]) == 1

    receiver.plan("/hook", Reply(500, body=b"nope"))
    failed = assert_success(
        await api.post(
            team_url(acme, f"/webhooks/{hook.webhook.id}/test"),
            json={"event": "boss.defeated"},
            headers=auth(acme),
        )
    )
    assert failed["success"] is False
    assert failed["status"] == 500
    assert failed["error"] == "endpoint answered 500"
    webhook = await node.webhooks.get(acme.team.id, hook.webhook.id)
    assert webhook.consecutive_failures == 0  # test sends do not count towards health


async def test_test_send_errors(
    api: httpx.AsyncClient, node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    url = team_url(acme, f"/webhooks/{hook.webhook.id}/test")
    assert_error(
        await api.post(url, json={"event": "invalid.event"}, headers=auth(acme)),
        400,
        "validation_error",
        "PARAMETER_INVALID",
        param="event",
        message="Unknown event type: invalid.event",
    )
    assert_error(
        await api.post(url, json={}, headers=auth(acme)),
        400,
        "validation_error",
        "PARAMETER_MISSING",
        param="event",
    )
    assert_error(
        await api.post(
            team_url(acme, "/webhooks/whk_missing000000000/test"),
            json={"event": "ticket.created"},
            headers=auth(acme),
        ),
        404,
        "not_found_error",
        "RESOURCE_MISSING",
    )


async def test_trigger_test_reaches_every_active_subscribed_webhook(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    exact = await make_webhook(node, acme, receiver.url("/a"), events="ticket.created")
    wildcard = await make_webhook(node, acme, receiver.url("/b"), events="*")
    await make_webhook(node, acme, receiver.url("/c"), events="customer.*")
    paused = await make_webhook(node, acme, receiver.url("/d"), events="ticket.*")
    await api.patch(
        team_url(acme, f"/webhooks/{paused.webhook.id}"),
        json={"isActive": False},
        headers=auth(acme),
    )
    response = await api.post(
        team_url(acme, "/webhooks/trigger-test"),
        json={"event": "ticket.created"},
        headers=auth(acme),
    )
    data = assert_success(response)
    assert data["event"] == "ticket.created"
    assert data["test"] is True
    assert data["eventId"].startswith("evt_ticket_created_")
    assert data["deliveredTo"] == 2
    assert {d["webhookId"] for d in data["deliveries"]} == {exact.webhook.id, wildcard.webhook.id}
    await receiver.wait_for(2)
    assert sorted(r.path for r in receiver.received()) == ["/a", "/b"]
    bad = await api.post(
        team_url(acme, "/webhooks/trigger-test"),
        json={"event": "invalid.event"},
        headers=auth(acme),
    )
    assert_error(
        bad,
        400,
        "validation_error",
        "PARAMETER_INVALID",
        param="event",
        message="Unknown event type: invalid.event",
    )


# -- logs, resend, recover ----------------------------------------------------------------------


async def test_delivery_logs_list_filter_paginate_and_show_attempts(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", Reply(500, body=b'{"error":"down"}'), Reply(200, body=b"thanks"))
    await publish(api, acme, "ticket.created")
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED)
    for _ in range(3):
        await publish(api, acme, "customer.created", {"customer": {"id": "c"}})
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED, count=4)
    base = team_url(acme, f"/webhooks/{hook.webhook.id}/deliveries")

    everything = assert_success(await api.get(base, headers=auth(acme)))
    assert len(everything) == 4
    tickets = assert_success(
        await api.get(base, params={"eventType": "ticket.created"}, headers=auth(acme))
    )
    assert len(tickets) == 1
    assert tickets[0]["attemptCount"] == 2
    assert (
        assert_success(await api.get(base, params={"status": "failed"}, headers=auth(acme))) == []
    )
    page = await api.get(base, params={"limit": 3}, headers=auth(acme))
    cursor = page.json()["meta"]["pagination"]["nextCursor"]
    rest = assert_success(
        await api.get(base, params={"limit": 3, "cursor": cursor}, headers=auth(acme))
    )
    assert len(assert_success(page)) == 3
    assert len(rest) == 1

    detail = assert_success(
        await api.get(team_url(acme, f"/deliveries/{tickets[0]['id']}"), headers=auth(acme))
    )
    assert detail["payload"]["type"] == "ticket.created"
    first, second = detail["attempts"]
    assert first["status"] == 500
    assert first["success"] is False
    assert first["responseBody"] == '{"error":"down"}'
    assert first["error"] == "endpoint answered 500"
    assert second["status"] == 200
    assert second["responseBody"] == "thanks"
    assert second["requestHeaders"]["X-Delivery-Attempt"] == "2"
    assert "whsec_" not in str(detail)
    assert hook.secret not in str(detail)

    for params, param in (({"status": "lost"}, "status"), ({"eventType": "nope.x"}, "eventType")):
        assert_error(
            await api.get(base, params=params, headers=auth(acme)),
            400,
            "validation_error",
            "PARAMETER_INVALID",
            param=param,
        )
    assert_error(
        await api.get(
            team_url(acme, "/webhooks/whk_missing000000000/deliveries"), headers=auth(acme)
        ),
        404,
        "not_found_error",
        "RESOURCE_MISSING",
    )
    assert_error(
        await api.get(team_url(acme, "/deliveries/dlv_nope00000000000"), headers=auth(acme)),
        404,
        "not_found_error",
        "RESOURCE_MISSING",
        param="deliveryId",
    )


async def test_resend_delivers_again_with_the_same_event_id(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    await publish(api, acme)
    (delivery,) = await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED)
    response = await api.post(
        team_url(acme, f"/deliveries/{delivery.id}/resend"), headers=auth(acme)
    )
    assert assert_success(response, 202)["status"] == "pending"
    first, second = await receiver.wait_for(2)
    assert first.header("x-event-id") == second.header("x-event-id")
    assert second.header("x-delivery-attempt") == "2"
    assert first.body == second.body


async def test_recover_requeues_failed_deliveries_since_a_time(
    api: httpx.AsyncClient,
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    receiver.plan("/hook", then=Reply(500))
    for _ in range(3):
        await publish(api, acme)
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.FAILED, count=3)
    receiver.plan("/hook", then=Reply(200))
    response = await api.post(
        team_url(acme, f"/webhooks/{hook.webhook.id}/recover"),
        json={"since": "2020-01-01T00:00:00Z"},
        headers=auth(acme),
    )
    assert assert_success(response, 202)["requeued"] == 3
    await wait_delivery(node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED, count=3)
    for since in ("yesterday", "2099-01-01T00:00:00Z", "2024-01-01T00:00:00"):
        bad = await api.post(
            team_url(acme, f"/webhooks/{hook.webhook.id}/recover"),
            json={"since": since},
            headers=auth(acme),
        )
        assert_error(bad, 400, "validation_error", "PARAMETER_INVALID", param="since")


async def test_a_webhook_failing_for_the_configured_span_is_deactivated(
    delivery_settings: Settings, receiver: Receiver
) -> None:
    settings = replace(delivery_settings, disable_after=0.3, retry_schedule=(0.2,) * 10)
    node = await open_container(settings, bootstrap=False)
    running = node.dispatcher()
    task = asyncio.create_task(running.run())
    try:
        team = await node.teams.create_team("Flaky")
        hook = await make_webhook(node, team, receiver.url())
        receiver.plan("/hook", then=Reply(502))
        await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": "t"}})
        await wait_delivery(node, team, hook.webhook.id, status=DeliveryStatus.PAUSED)
        webhook = await node.webhooks.get(team.team.id, hook.webhook.id)
        assert webhook.is_active is False
        assert webhook.disabled_reason is not None
        assert webhook.disabled_reason.startswith("Every delivery has failed since")
        assert webhook.consecutive_failures >= 2
    finally:
        running.stop()
        await task
        await node.aclose()
