"""The real server for SDK tests: ``cstar serve --dev`` over HTTP, once per backend (an SQLite
file, then a PostgreSQL database of its own), a second team beside the bootstrap one, and a
real webhook receiver running in a thread of its own (so the sync client may block)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.e2e.server import run_cstar, start_server
from tests.postgres import fresh_database
from tests.sdk.servers import ApiServer, ThreadedReceiver
from tests.sdk.support import FLAVORS, AnyClient, Flavor, close_client, make_client

BACKENDS = [
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
]
#: Failed deliveries fail for good after one quick retry, so `recover` has work in seconds.
SERVER_ENV = {"CSTAR_RETRY_SCHEDULE": "200ms", "CSTAR_POLL_INTERVAL": "100ms"}


@pytest.fixture(scope="session")
def sdk_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the SDK tests' own (other tests truncate the shared one)."""
    with fresh_database("cstar_sdk") as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    backend = str(request.param)
    cwd = tmp_path_factory.mktemp(f"sdk-{backend}")
    url = (
        f"sqlite:///{cwd / 'cstar.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("sdk_postgres_url"))
    )
    env = {**SERVER_ENV, "CSTAR_DATABASE_URL": url}
    server = start_server(cwd, env=env, args=["--dev"])
    try:
        boot = server.bootstrap
        assert boot is not None, server.output
        other = run_cstar("admin", "create-team", "--name", "Other", "--json", cwd=cwd, env=env)
        assert other.returncode == 0, other.stderr
        yield ApiServer(
            backend=backend,
            base_url=server.base_url,
            team_id=boot.team_id,
            secret_key=boot.secret_key,
            publishable_key=boot.publishable_key,
            other_team_id=json.loads(other.stdout)["teamId"],
        )
    finally:
        server.stop()


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> Flavor:
    value: Flavor = request.param
    return value


@pytest.fixture
async def client(flavor: Flavor, api_server: ApiServer) -> AsyncIterator[AnyClient]:
    """A ``CStarClient`` or an ``AsyncCStarClient`` for the bootstrap team."""
    made = make_client(flavor, **api_server.client_kwargs())
    try:
        yield made
    finally:
        await close_client(made)


@pytest.fixture(scope="session")
def receiver() -> Iterator[ThreadedReceiver]:
    running = ThreadedReceiver()
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def hook_path() -> str:
    """A receiver path no other test uses."""
    return f"/hook-{secrets.token_hex(6)}"
