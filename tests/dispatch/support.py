"""Helpers for delivery tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from cstar.server.bootstrap import Container
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.domain.deliveries import Delivery, DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft, WithSecret


@contextlib.asynccontextmanager
async def running(node: Container) -> AsyncIterator[Dispatcher]:
    """A dispatcher running for the block, stopped (and its work recorded) after it."""
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 30)


def auth(team: CreatedTeam) -> dict[str, str]:
    return {"Authorization": f"Bearer {team.secret_key}"}


async def make_webhook(
    node: Container, team: CreatedTeam, url: str, events: str = "*", name: str = "hook"
) -> WithSecret:
    return await node.webhooks.create(team.team.id, WebhookDraft(name=name, url=url, events=events))


async def publish(
    api: httpx.AsyncClient,
    team: CreatedTeam,
    event_type: str = "ticket.created",
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    response = await api.post(
        f"/api/v1/teams/{team.team.id}/events",
        json={"type": event_type, "data": data or {"ticket": {"id": "t-1"}}, **extra},
        headers=auth(team),
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def wait_delivery(
    node: Container,
    team: CreatedTeam,
    webhook_id: str,
    *,
    status: DeliveryStatus,
    count: int = 1,
    timeout: float = 15.0,
) -> list[Delivery]:
    """Wait until ``count`` of the webhook's deliveries are in ``status`` (and recorded)."""
    from cstar.server.domain.pagination import Cursor, PageRequest
    from cstar.server.store.contract import DeliveryFilter

    deadline = time.monotonic() + timeout
    where = DeliveryFilter(webhook_id=webhook_id, status=status)
    while True:
        found: list[Delivery] = []
        request = PageRequest(limit=100)
        while True:
            page = await node.delivery_store.list_deliveries(team.team.id, where, request)
            found += page.items
            if page.next_cursor is None:
                break
            request = PageRequest(limit=100, after=Cursor.decode(page.next_cursor))
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} deliveries reached {status}")
        await asyncio.sleep(0.05)


class StaticResolver:
    """DNS answers chosen by the test (a name that resolves to a private address); it notes
    every name it is asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.answers.get(host, []))
