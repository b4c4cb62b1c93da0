"""A running dispatcher (real, in this event loop) over a real database, a real receiver, and the
API on the same container: each delivery test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.dispatch.dispatcher import Dispatcher
from cstar.server.services.teams import CreatedTeam
from tests.dispatch.support import running


@pytest.fixture
def delivery_settings(settings: Settings) -> Settings:
    return replace(
        settings,
        dev=True,
        retry_schedule=(0.05, 0.05, 0.05),
        delivery_timeout=2.0,
        poll_interval=0.02,
    )


@pytest.fixture
async def node(delivery_settings: Settings) -> AsyncIterator[Container]:
    """The container of a cstar node; its dispatcher is started by ``dispatcher``."""
    opened = await open_container(delivery_settings, bootstrap=False)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def dispatcher(node: Container) -> AsyncIterator[Dispatcher]:
    async with running(node) as started:
        yield started


@pytest.fixture
async def api(delivery_settings: Settings, node: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(delivery_settings, container=node)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


@pytest.fixture
async def acme(node: Container) -> CreatedTeam:
    return await node.teams.create_team("Acme Support")
