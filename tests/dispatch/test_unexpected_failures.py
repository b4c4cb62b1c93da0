"""Whatever goes wrong with one delivery becomes a failed attempt on the retry schedule: never a
delivery retried in a tight loop, never one that stays pending without a word."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.schema import webhooks
from tests.dispatch.support import auth, make_webhook, wait_delivery
from tests.receiver import Receiver


async def test_a_delivery_that_cannot_be_prepared_fails_on_the_retry_schedule(
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    # A secret that no key decrypts (the database was restored with another master key, say):
    # signing raises before anything is sent.
    await node.database.write(
        lambda c: c.execute(
            webhooks.update()
            .where(webhooks.c.id == hook.webhook.id)
            .values(secret_ciphertext="gAAAAA-not-a-fernet-token")
        )
    )
    with caplog.at_level(logging.ERROR, logger="cstar.server.dispatch.dispatcher"):
        await node.events.publish(acme.team.id, "ticket.created", {"ticket": {"id": "t"}})
        (delivery,) = await wait_delivery(
            node, acme, hook.webhook.id, status=DeliveryStatus.FAILED, timeout=20
        )
        await asyncio.sleep(0.5)  # a delivery retried in a loop would go on meanwhile
    attempts = await node.delivery_store.list_attempts(delivery.id)
    # The schedule (three retries) and nothing more: each a recorded attempt with its error.
    assert len(attempts) == len(node.policy.delays) + 1
    assert [a.attempt for a in attempts] == [1, 2, 3, 4]
    for attempt in attempts:
        assert not attempt.success
        assert attempt.status_code is None
        assert attempt.error is not None
        assert attempt.error.startswith("the request could not be made: SecretBoxError")
    assert receiver.requests == []
    errors = [r for r in caplog.records if r.name == "cstar.server.dispatch.dispatcher"]
    assert len(errors) == len(attempts)


async def test_a_test_send_that_cannot_be_prepared_answers_200_with_the_error(
    node: Container, acme: CreatedTeam, receiver: Receiver, api: httpx.AsyncClient
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    await node.database.write(
        lambda c: c.execute(
            webhooks.update()
            .where(webhooks.c.id == hook.webhook.id)
            .values(secret_ciphertext="gAAAAA-not-a-fernet-token")
        )
    )
    response = await api.post(
        f"/api/v1/teams/{acme.team.id}/webhooks/{hook.webhook.id}/test",
        json={"event": "ticket.created"},
        headers=auth(acme),
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["success"] is False
    assert data["error"].startswith("the request could not be made: SecretBoxError")
    assert receiver.requests == []
