"""The async client's default transport: aiohttp's pool with the ``fast`` extra, else httpx's.

Every async test of this folder runs on the default, so with the extra installed (as the test
extra does) retries, timeouts and connection errors are all checked through it."""

from __future__ import annotations

import httpx
import pytest
from httpx_aiohttp import HttpxAiohttpClient

from cstar.sdk import AsyncCStarClient, _transport


async def test_the_default_client_is_aiohttp_backed_when_the_extra_is_installed() -> None:
    client = AsyncCStarClient(api_key="sk_test_x", team_id="t", timeout=3.0)
    try:
        assert isinstance(client.http_client, HttpxAiohttpClient)
        assert client.http_client.timeout == httpx.Timeout(3.0)
    finally:
        await client.close()


async def test_without_the_extra_it_is_httpx_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_transport, "fast_transport_available", lambda: False)
    client = AsyncCStarClient(api_key="sk_test_x", team_id="t")
    try:
        assert type(client.http_client) is httpx.AsyncClient
    finally:
        await client.close()


async def test_a_client_passed_in_is_used_as_it_is() -> None:
    async with httpx.AsyncClient() as mine:
        client = AsyncCStarClient(api_key="sk_test_x", team_id="t", http_client=mine)
        assert client.http_client is mine
        await client.close()
        assert not mine.is_closed
