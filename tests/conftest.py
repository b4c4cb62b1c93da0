"""Shared fixtures: a real database per backend (SQLite file, PostgreSQL server), the container,
the app over ASGI, and a team with its keys.

PostgreSQL is not optional: the suite fails when 127.0.0.1:5432 cannot be reached. Set
``CSTAR_TEST_SKIP_POSTGRES=1`` to skip the PostgreSQL runs on a laptop without it; CI ignores it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from tests.postgres import fresh_database, run_apart
from tests.receiver import HungEndpoint, Receiver

BACKENDS = ["sqlite", "postgres"]
TABLES = (
    "delivery_attempts",
    "deliveries",
    "idempotency_keys",
    "events",
    "webhook_subscriptions",
    "webhooks",
    "api_keys",
    "teams",
    "meta",
    "rate_limit_windows",
)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with fresh_database("cstar_test") as url:
        yield url


@pytest.fixture(scope="session")
def master_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'cstar.db'}"
        return
    url = request.getfixturevalue("pg_database")
    run_apart(_truncate(url))
    yield url


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.teams') IS NOT NULL")
        if exists:
            await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def settings(database_url: str, master_key: str) -> Settings:
    return Settings(database_url=database_url, master_keys=(master_key,))


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    opened = await open_container(settings, bootstrap=False)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def client(settings: Settings, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def team(container: Container) -> CreatedTeam:
    return await container.teams.create_team("Acme Support")


@pytest.fixture
async def other_team(container: Container) -> CreatedTeam:
    return await container.teams.create_team("Other Corp")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP endpoint that records what it receives and answers as planned."""
    running = Receiver()
    await running.start()
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def hung() -> AsyncIterator[HungEndpoint]:
    """An endpoint that accepts connections and never answers."""
    endpoint = HungEndpoint()
    try:
        yield endpoint
    finally:
        await endpoint.close()
