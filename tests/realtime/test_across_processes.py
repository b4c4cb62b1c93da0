"""Streams as operators run them: ``cstar serve`` processes sharing one PostgreSQL database, and
a stopping server with streams open."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cstar.server.config import Settings
from tests.e2e.server import RunningServer, start_server
from tests.helpers import bearer
from tests.realtime.support import reading

pytestmark = pytest.mark.e2e


@pytest.fixture
def servers() -> Iterator[list[RunningServer]]:
    running: list[RunningServer] = []
    yield running
    for server in running:
        server.stop()


def serve(servers: list[RunningServer], cwd: Path, settings: Settings, **env: str) -> RunningServer:
    cwd.mkdir()
    server = start_server(
        cwd,
        env={
            "CSTAR_DATABASE_URL": settings.database_url,
            "CSTAR_MASTER_KEY": ",".join(settings.master_keys),
            **env,
        },
        args=["--dev"],
    )
    servers.append(server)
    return server


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_an_event_published_through_one_process_reaches_streams_on_another(
    tmp_path: Path, settings: Settings, servers: list[RunningServer]
) -> None:
    # Polling every 10 s: only NOTIFY can bring the event over in time.
    a = serve(servers, tmp_path / "a", settings, CSTAR_POLL_INTERVAL="10s")
    b = serve(servers, tmp_path / "b", settings, CSTAR_POLL_INTERVAL="10s")
    assert a.bootstrap is not None
    team, key = a.bootstrap.team_id, a.bootstrap.secret_key
    stream_url = f"{a.base_url}/api/v1/teams/{team}/events/stream"
    async with (
        httpx.AsyncClient(timeout=10) as http,
        reading(http, stream_url, bearer(key)) as got,
    ):
        started = time.monotonic()
        published = await http.post(
            f"{b.base_url}/api/v1/teams/{team}/events",
            headers=bearer(key),
            json={"type": "ticket.created", "data": {"ticket": {"id": "t1"}}},
        )
        assert published.status_code == 202, published.text
        await got.wait_for(1, timeout=5)
        elapsed = time.monotonic() - started
    assert got.payloads()[0]["id"] == published.json()["data"]["id"]
    assert elapsed < 2.0, f"took {elapsed:.2f}s: NOTIFY did not wake the other process"


async def test_sigterm_ends_open_streams_and_exits_cleanly(
    tmp_path: Path, settings: Settings, servers: list[RunningServer]
) -> None:
    server = serve(servers, tmp_path / "s", settings)
    assert server.bootstrap is not None
    url = f"{server.base_url}/api/v1/teams/{server.bootstrap.team_id}/events/stream"
    headers = bearer(server.bootstrap.secret_key)
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", url, headers=headers) as resp,
    ):
        assert resp.status_code == 200
        started = time.monotonic()
        server.process.terminate()
        async with asyncio.timeout(10):
            await resp.aread()  # ends when the server closes the stream
    code = await asyncio.to_thread(server.process.wait, 15)
    assert code == 0, server.output
    assert time.monotonic() - started < 10
    assert "Traceback" not in server.output


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_key_revoked_through_another_process_ends_its_streams(
    tmp_path: Path, settings: Settings, servers: list[RunningServer]
) -> None:
    a = serve(servers, tmp_path / "a", settings)
    b = serve(servers, tmp_path / "b", settings)
    assert a.bootstrap is not None
    team, admin = a.bootstrap.team_id, bearer(a.bootstrap.secret_key)
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(
            f"{b.base_url}/api/v1/teams/{team}/keys", headers=admin, json={"name": "listener"}
        )
        assert created.status_code == 201, created.text
        key = created.json()["data"]
        stream_url = f"{a.base_url}/api/v1/teams/{team}/events/stream"
        async with http.stream("GET", stream_url, headers=bearer(key["key"])) as stream:
            assert stream.status_code == 200
            revoked = await http.delete(
                f"{b.base_url}/api/v1/teams/{team}/keys/{key['id']}", headers=admin
            )
            assert revoked.status_code == 200, revoked.text
            async with asyncio.timeout(15):  # ends within CSTAR_STREAM_ACCESS_CHECK (2 s)
                lines = [line async for line in stream.aiter_lines()]
    assert ": access ended: the API key was revoked or its team deleted" in lines
