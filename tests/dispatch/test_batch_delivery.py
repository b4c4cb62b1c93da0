"""A published batch is delivered like single publishes: each event once, signed, to every
subscribed endpoint, by a running dispatcher that the batch wakes."""

from __future__ import annotations

import asyncio

import httpx

from cstar.server.bootstrap import Container
from cstar.server.services.teams import CreatedTeam
from cstar.webhook import construct_event
from tests.dispatch.support import auth, make_webhook
from tests.helpers import assert_success
from tests.receiver import Receiver


async def test_every_event_of_a_batch_is_delivered_once_and_signed(
    node: Container, api: httpx.AsyncClient, acme: CreatedTeam, receiver: Receiver
) -> None:
    hook = await make_webhook(node, acme, receiver.url(), events="ticket.*")
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:
        events = [{"type": "ticket.created", "data": {"ticket": {"id": f"t{i}"}}} for i in range(5)]
        events.append({"type": "customer.created", "data": {"customer": {"id": "c"}}})
        response = await api.post(
            f"/api/v1/teams/{acme.team.id}/events/batch",
            json={"events": events},
            headers=auth(acme),
        )
        results = assert_success(response, 202)["events"]
        arrived = await receiver.wait_for(5)
    finally:
        dispatcher.stop()
        await task
    assert sorted(r.header("x-event-id") for r in arrived) == sorted(r["id"] for r in results[:5])
    for request in arrived:
        event = construct_event(request.body, request.header("x-signature"), hook.secret)
        assert event["type"] == "ticket.created"
