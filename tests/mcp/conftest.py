"""One real cStar server (``cstar serve --dev`` on SQLite, a subprocess) for the module, an SDK
client for checking what the MCP tools did, and a local webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cstar.sdk import AsyncCStarClient
from tests.e2e.server import RunningServer, start_server
from tests.mcp.helpers import Api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    cwd = tmp_path_factory.mktemp("cstar-server")
    server: RunningServer = start_server(cwd, args=["--dev"])
    try:
        assert server.bootstrap is not None, server.output
        yield Api(server.base_url, server.bootstrap, cwd)
    finally:
        server.stop()


@pytest.fixture
async def sdk(api: Api) -> AsyncIterator[AsyncCStarClient]:
    async with AsyncCStarClient(
        api_key=api.keys.secret_key, team_id=api.keys.team_id, base_url=api.base_url
    ) as client:
        yield client


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home and config directory: no stored login, no keychain entry."""
    (tmp_path / "home").mkdir()
    return tmp_path / "home"
