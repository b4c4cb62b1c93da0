"""The clients' methods have exact static types (``mypy tests`` checks the ``assert_type``
lines) and return those types at run time."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

import pytest

from cstar.sdk import (
    AsyncCStarClient,
    AsyncPage,
    AsyncPager,
    CStarClient,
    EventType,
    Page,
    PublishedEvent,
    Webhook,
)
from tests.sdk.servers import ApiServer, ThreadedReceiver

pytestmark = pytest.mark.e2e


def test_sync_types(api_server: ApiServer, receiver: ThreadedReceiver) -> None:
    with CStarClient(**api_server.client_kwargs()) as cstar:
        created = assert_type(
            cstar.webhooks.create(url=receiver.url("/typed"), events="*"), Webhook
        )
        assert isinstance(created, Webhook)
        page = assert_type(cstar.webhooks.list(limit=1), Page[Webhook])
        assert isinstance(page, Page)
        assert isinstance(next(iter(page)), Webhook)
        catalog = assert_type(cstar.events.catalog(), list[EventType])
        assert isinstance(catalog[0], EventType)
        assert_type(cstar.webhooks.delete(created.id).deleted, bool)


async def test_async_types(api_server: ApiServer, receiver: ThreadedReceiver) -> None:
    async with AsyncCStarClient(**api_server.client_kwargs()) as cstar:
        pending = assert_type(
            cstar.webhooks.create(url=receiver.url("/typed"), events="*"),
            Coroutine[Any, Any, Webhook],
        )
        created = assert_type(await pending, Webhook)
        assert isinstance(created, Webhook)
        pager = assert_type(cstar.webhooks.list(limit=1), AsyncPager[Webhook])
        page = assert_type(await pager, AsyncPage[Webhook])
        assert isinstance(page, AsyncPage)
        async for item in page:
            assert_type(item, Webhook)
            assert isinstance(item, Webhook)
            break
        published = assert_type(
            await cstar.events.publish("ticket.created", {"ticket": {"id": "t"}}), PublishedEvent
        )
        assert isinstance(published, PublishedEvent)
        await cstar.webhooks.delete(created.id)
