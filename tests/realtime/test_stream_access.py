"""A stream lasts only as long as its key and its team, and a key or a team holds only so many.

Over real HTTP on both backends. A revocation in the serving process ends the key's streams at
once; one made by another process, or a team deleted in the database, is found by the periodic
check (``CSTAR_STREAM_ACCESS_CHECK``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cstar.sdk import AuthenticationError, CStarClient
from cstar.server.bootstrap import open_container
from cstar.server.config import Settings
from cstar.server.domain.models import KeyKind, KeyMode
from cstar.server.store.schema import teams
from tests.helpers import assert_error, bearer
from tests.realtime.conftest import Live
from tests.realtime.support import reading

FAREWELL = ": access ended: the API key was revoked or its team deleted"


@pytest.fixture
def stream_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The realtime fixture's settings, with this test's changes (``indirect`` parameters)."""
    changes: dict[str, Any] = getattr(request, "param", {})
    return replace(settings, dev=True, stream_heartbeat=0.3, poll_interval=0.05, **changes)


async def new_key(live: Live, name: str = "listener") -> tuple[str, str]:
    record, raw = await live.container.keys.create(
        live.team.team.id, kind=KeyKind.SECRET, mode=KeyMode.TEST, name=name
    )
    return record.id, raw


async def read_to_end(response: httpx.Response, timeout: float = 10.0) -> list[str]:
    """Every line of a stream until the server ends it (fails if it does not in time)."""
    lines: list[str] = []
    async with asyncio.timeout(timeout):
        async for line in response.aiter_lines():
            lines.append(line)
    return lines


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, live: Live, key: str
) -> AsyncIterator[httpx.Response]:
    """A stream request whose answer is known once its headers arrive (200: subscribed)."""
    async with http.stream("GET", live.stream_url, headers=bearer(key)) as response:
        if response.status_code != 200:
            await response.aread()
        yield response


async def publish(http: httpx.AsyncClient, live: Live) -> str:
    response = await http.post(
        live.api("/events"), headers=live.headers, json={"type": "customer.created", "data": {}}
    )
    assert response.status_code == 202, response.text
    event_id: str = response.json()["data"]["id"]
    return event_id


@pytest.mark.parametrize("stream_settings", [{"stream_access_check": 3600.0}], indirect=True)
async def test_revoking_a_key_ends_its_streams_at_once(live: Live, http: httpx.AsyncClient) -> None:
    # The periodic check runs once an hour here: only the revocation itself can end the stream.
    key_id, raw = await new_key(live)
    async with (
        open_stream(http, live, raw) as doomed,
        reading(http, live.stream_url, live.headers) as kept,
    ):
        assert doomed.status_code == 200
        revoked = await http.delete(live.api(f"/keys/{key_id}"), headers=live.headers)
        assert revoked.status_code == 200, revoked.text
        lines = await read_to_end(doomed)
        event_id = await publish(http, live)
        await kept.wait_for(1)
    assert lines[-2:] == [FAREWELL, ""]
    assert [p["id"] for p in kept.payloads()] == [event_id]
    again = await http.get(live.stream_url, headers=bearer(raw))
    assert_error(again, 401, "authentication_error", "authentication_required")


@pytest.mark.parametrize("stream_settings", [{"stream_access_check": 0.2}], indirect=True)
async def test_a_key_revoked_by_another_process_ends_its_streams(
    live: Live, http: httpx.AsyncClient, stream_settings: Settings
) -> None:
    key_id, raw = await new_key(live)
    elsewhere = await open_container(stream_settings, bootstrap=False)
    try:
        async with (
            open_stream(http, live, raw) as doomed,
            reading(http, live.stream_url, live.headers) as kept,
        ):
            assert doomed.status_code == 200
            await elsewhere.keys.revoke(live.team.team.id, key_id)
            lines = await read_to_end(doomed)
            event_id = await publish(http, live)
            await kept.wait_for(1)
    finally:
        await elsewhere.aclose()
    assert lines[-2:] == [FAREWELL, ""]
    assert [p["id"] for p in kept.payloads()] == [event_id]
    # The server forgets a stream as its response ends, which may come just after the client
    # has read the last line.
    for _ in range(100):
        if not live.container.streams.open_key_ids():
            break
        await asyncio.sleep(0.02)
    assert live.container.streams.open_key_ids() == set()


@pytest.mark.parametrize("stream_settings", [{"stream_access_check": 0.2}], indirect=True)
async def test_deleting_the_team_ends_its_streams(live: Live, http: httpx.AsyncClient) -> None:
    other = await live.container.teams.create_team("Other Corp")
    other_url = f"{live.base_url}/api/v1/teams/{other.team.id}/events/stream"
    async with (
        open_stream(http, live, live.team.secret_key) as doomed,
        http.stream("GET", other_url, headers=bearer(other.secret_key)) as unrelated,
    ):
        assert doomed.status_code == 200
        assert unrelated.status_code == 200
        team_id = live.team.team.id
        await live.container.database.write(
            lambda conn: conn.execute(sa.delete(teams).where(teams.c.id == team_id))
        )
        lines = await read_to_end(doomed)
        assert live.container.streams.subscriber_count == 1  # the other team's stream lives on
    assert lines[-2:] == [FAREWELL, ""]


@pytest.mark.parametrize("stream_settings", [{"stream_access_check": 3600.0}], indirect=True)
async def test_an_sdk_subscription_ends_with_an_authentication_error_on_revocation(
    live: Live, http: httpx.AsyncClient
) -> None:
    key_id, raw = await new_key(live)
    client = CStarClient(api_key=raw, team_id=live.team.team.id, base_url=live.base_url)
    try:
        sub = client.realtime.on("*", lambda event: None)
        assert await asyncio.to_thread(sub.wait_ready, 5)
        revoked = await http.delete(live.api(f"/keys/{key_id}"), headers=live.headers)
        assert revoked.status_code == 200, revoked.text
        await asyncio.to_thread(sub._thread.join, 10)
        assert not sub.active
        assert isinstance(sub.error, AuthenticationError)
    finally:
        client.close()


@pytest.mark.parametrize(
    "stream_settings", [{"streams_per_key": 2, "streams_per_team": 3}], indirect=True
)
async def test_a_key_and_a_team_hold_only_so_many_streams(
    live: Live, http: httpx.AsyncClient
) -> None:
    _, second = await new_key(live, "second")
    first = live.team.secret_key
    async with AsyncExitStack() as stack:
        held = [await stack.enter_async_context(open_stream(http, live, first)) for _ in range(2)]
        assert [r.status_code for r in held] == [200, 200]
        async with open_stream(http, live, first) as over_key:
            error = assert_error(over_key, 429, "rate_limit_error", "rate_limit_exceeded")
        assert int(over_key.headers["retry-after"]) >= 1
        assert "API key already has 2 open streams" in error["message"]

        other = await stack.enter_async_context(open_stream(http, live, second))
        assert other.status_code == 200
        async with open_stream(http, live, second) as over_team:
            error = assert_error(over_team, 429, "rate_limit_error", "rate_limit_exceeded")
        assert "team already has 3 open streams" in error["message"]
        assert live.container.streams.subscriber_count == 3

        await held[0].aclose()  # a closed stream gives its place back
        async with asyncio.timeout(5):
            while live.container.streams.subscriber_count > 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        async with open_stream(http, live, first) as again:
            assert again.status_code == 200
