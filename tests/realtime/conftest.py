"""The API served over real HTTP (uvicorn on a free port, in this event loop) on both backends,
so streams are read as a client reads them and the hub can be inspected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import pytest
import uvicorn

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from tests.helpers import bearer


@dataclass
class Live:
    base_url: str
    container: Container
    team: CreatedTeam

    @property
    def stream_url(self) -> str:
        return f"{self.base_url}/api/v1/teams/{self.team.team.id}/events/stream"

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.team.secret_key)

    def api(self, path: str) -> str:
        return f"{self.base_url}/api/v1/teams/{self.team.team.id}{path}"


@pytest.fixture
def stream_settings(settings: Settings) -> Settings:
    return replace(settings, dev=True, stream_heartbeat=0.3, poll_interval=0.05)


@pytest.fixture
async def live(stream_settings: Settings) -> AsyncIterator[Live]:
    container = await open_container(stream_settings, bootstrap=False)
    app = create_app(stream_settings, container=container)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    server.capture_signals = _no_signals  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    team = await container.teams.create_team("Acme Support")
    try:
        yield Live(f"http://127.0.0.1:{port}", container, team)
    finally:
        container.streams.end_streams()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await container.aclose()


def _no_signals() -> object:
    import contextlib

    return contextlib.nullcontext()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
