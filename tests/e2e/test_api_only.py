"""``cstar serve --api-only`` beside ``cstar worker``: the usual deployment on PostgreSQL (API
replicas, separate workers). The API process accepts events and never delivers them itself; a
worker in another process delivers them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.domain.deliveries import DeliveryStatus
from tests.dispatch.support import auth, wait_delivery
from tests.e2e.server import finish, start_server, start_worker
from tests.e2e.test_workers import setup_team, worker_env
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e


async def test_an_api_only_server_accepts_and_a_worker_delivers(
    settings: Settings, shared: Container, receiver: Receiver, tmp_path: Path
) -> None:
    team, webhook_id = await setup_team(shared, receiver)
    env = worker_env(settings)
    server = await asyncio.to_thread(start_server, tmp_path, env=env, args=["--dev", "--api-only"])
    try:
        assert "API only" in server.output, server.output
        async with httpx.AsyncClient(base_url=server.base_url, headers=auth(team)) as api:
            published = set()
            for n in range(20):
                answer = await api.post(
                    f"/api/v1/teams/{team.team.id}/events",
                    json={"type": "ticket.created", "data": {"n": n}},
                )
                assert answer.status_code == 202, answer.text
                published.add(answer.json()["data"]["id"])
            health = await api.get("/healthz")
            assert health.status_code == 200, health.text
            # Nobody delivers while only the API runs (the poll interval here is 20 ms).
            await asyncio.sleep(1.0)
            assert receiver.received() == []
            pending = await wait_delivery(
                shared, team, webhook_id, status=DeliveryStatus.PENDING, count=20, timeout=5
            )
            assert len(pending) == 20
            worker = await start_worker(env)
            try:
                await receiver.wait_for(20, timeout=30)
            finally:
                code, err = await finish(worker)
            assert code == 0, err
        assert {r.header("x-event-id") for r in receiver.received()} == published
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.output
    assert "Traceback" not in server.output, server.output
