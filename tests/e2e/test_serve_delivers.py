"""`cstar serve` as a user runs it: the API and the dispatcher in one process deliver signed
events to a real receiver, and seed 002's trigger-test example answers as documented."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cstar.webhook import construct_event
from tests.e2e.server import RunningServer, start_server
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

TRIGGER = """curl -X POST "https://www.cstar.help/api/v1/teams/{teamId}/webhooks/trigger-test" \\
  -H "Authorization: Bearer sk_live_your_key" \\
  -H "Content-Type: application/json" \\
  -d '{ "event": "ticket.created" }'"""


@pytest.fixture
def server(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    env = (
        {}
        if backend == "sqlite"
        else {"CSTAR_DATABASE_URL": request.getfixturevalue("database_url")}
    )
    running = start_server(tmp_path, env=env, args=["--dev"])
    try:
        yield running
    finally:
        running.stop()


async def test_serve_publishes_and_delivers_signed_events(
    server: RunningServer, receiver: Receiver
) -> None:
    boot = server.bootstrap
    assert boot is not None
    assert "DEV MODE" in server.output
    headers = {"Authorization": f"Bearer {boot.secret_key}"}
    base = f"{server.base_url}/api/v1/teams/{boot.team_id}"
    async with httpx.AsyncClient(headers=headers) as http:
        created = (
            await http.post(
                f"{base}/webhooks",
                json={"name": "local", "url": receiver.url(), "events": "ticket.*"},
            )
        ).json()["data"]
        published = await http.post(
            f"{base}/events",
            json={"type": "ticket.created", "data": {"ticket": {"id": "t-1", "title": "Hi"}}},
        )
        assert published.status_code == 202
        (request,) = await receiver.wait_for(1)
        event = construct_event(request.body, request.header("x-signature"), created["secret"])
        assert event.id == published.json()["data"]["id"]
        assert event.data.ticket.dashboard_url.endswith("selected=t-1")
        assert request.header("x-cstar-request-id") == published.headers["x-request-id"]

        if shutil.which("curl"):
            command = (
                TRIGGER.replace("https://www.cstar.help", server.base_url)
                .replace("sk_live_your_key", boot.secret_key)
                .replace("{teamId}", boot.team_id)
            )
            curl = await asyncio.create_subprocess_shell(
                command + " -s", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await asyncio.wait_for(curl.communicate(), 30)
            body = json.loads(out)
            assert body["success"] is True
            assert body["data"]["event"] == "ticket.created"
            assert body["data"]["test"] is True
            assert body["data"]["eventId"].startswith("evt_ticket_created_")
            assert body["data"]["deliveredTo"] == 1
            await receiver.wait_for(2)

        logs = (await http.get(f"{base}/webhooks/{created['id']}/deliveries")).json()["data"]
        assert len(logs) == 2
    server.stop()
    assert created["secret"] not in "".join(server.stderr_lines)
