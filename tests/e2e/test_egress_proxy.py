"""``CSTAR_EGRESS_PROXY`` as an operator sets it: ``cstar serve`` says where deliveries leave
(without the proxy's password), and they arrive through the proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from tests.dispatch.support import auth
from tests.e2e.server import start_server
from tests.e2e.test_workers import setup_team, worker_env
from tests.proxy_server import ForwardProxy
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ForwardProxy]:
    folder = tmp_path / "proxy"
    folder.mkdir()
    running = ForwardProxy(folder)
    running.start()
    try:
        yield running
    finally:
        running.stop()


async def test_serve_delivers_through_the_egress_proxy(
    settings: Settings,
    shared: Container,
    receiver: Receiver,
    proxy: ForwardProxy,
    tmp_path: Path,
) -> None:
    team, _ = await setup_team(shared, receiver)
    with_password = proxy.url.replace("http://", "http://gw:hunter2@")
    server = await asyncio.to_thread(
        start_server,
        tmp_path,
        env=worker_env(settings, CSTAR_EGRESS_PROXY=with_password),
        args=["--dev"],
    )
    try:
        assert f"egress:     every delivery through http://gw:***@127.0.0.1:{proxy.port}" in (
            server.output
        )
        async with httpx.AsyncClient(base_url=server.base_url, headers=auth(team)) as api:
            answer = await api.post(
                f"/api/v1/teams/{team.team.id}/events",
                json={"type": "ticket.created", "data": {"n": 1}},
            )
            assert answer.status_code == 202
        await receiver.wait_for(1, timeout=15)
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.output
    assert "hunter2" not in server.output
    # Stopping the server closed its connection to the proxy, which then logs the request.
    proxy.wait_for_request(f"POST 127.0.0.1:{receiver.port}/hook")
