"""While the database is away the dispatcher backs off, exponentially and with jitter, whatever
else happens meanwhile (sends finishing), logs the outage twice (when it starts and when it
ends), and delivers everything once the database is back."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.engine import make_url

from cstar.server.bootstrap import Container
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from tests.dispatch.support import make_webhook, wait_delivery
from tests.postgres import pg_admin
from tests.receiver import Receiver, Reply

EVENTS = 40
OUTAGE = 3.0


@asynccontextmanager
async def database_away(database_url: str) -> AsyncIterator[None]:
    """No connection to the database is possible, and the open ones are cut."""
    name = make_url(database_url).database
    await pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        await pg_admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
        yield
    finally:
        await pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.mark.parametrize("backend", ["postgres"])
async def test_an_outage_is_two_log_lines_and_a_bounded_number_of_tries(
    node: Container,
    acme: CreatedTeam,
    receiver: Receiver,
    dispatcher: Dispatcher,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = await make_webhook(node, acme, receiver.url())
    # Sends take a while, so many finish during the outage: each finished send pokes the loop.
    receiver.plan("/hook", then=Reply(200, delay=0.4))
    for i in range(EVENTS):
        await node.events.publish(acme.team.id, "ticket.created", {"ticket": {"id": f"t{i}"}})
    await receiver.wait_for(1)
    with caplog.at_level(logging.INFO, logger="cstar.server.dispatch"):
        async with database_away(database_url):
            await asyncio.sleep(OUTAGE)
        await wait_delivery(
            node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED, count=EVENTS, timeout=30
        )
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "cstar.server.dispatch.dispatcher" and r.levelno >= logging.WARNING
    ]
    assert len(lines) == 2, lines
    assert "the database is unavailable" in lines[0]
    back = re.search(r"reachable again after ([\d.]+)s \((\d+) failed tries\)", lines[1])
    assert back is not None, lines[1]
    # Backing off from 0.1 s, doubling up to 10 s: a handful of tries in a few seconds, not one
    # per finished send.
    assert int(back.group(2)) <= 8, lines[1]
    listen = [
        r.getMessage()
        for r in caplog.records
        if r.name == "cstar.server.dispatch.wakeup" and r.levelno >= logging.WARNING
    ]
    assert len(listen) <= 2, listen
    # Every event arrived; what was in flight during the outage was recorded once.
    for delivery in await wait_delivery(
        node, acme, hook.webhook.id, status=DeliveryStatus.SUCCEEDED, count=EVENTS
    ):
        assert len(await node.delivery_store.list_attempts(delivery.id)) == 1
