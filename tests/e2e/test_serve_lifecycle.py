"""``cstar serve`` and ``cstar worker`` as a supervisor sees them: a dead dispatcher stops the
process with an error (and ``/healthz`` says so meanwhile), and SIGTERM always ends within the
delivery timeout plus a few seconds, with what finished recorded and the rest given back."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.schema import deliveries, delivery_attempts
from tests.e2e.server import CSTAR, start_server
from tests.helpers import bearer
from tests.receiver import HungEndpoint, Receiver

pytestmark = pytest.mark.e2e

DELIVERY_TIMEOUT = 3.0
#: "A few seconds": the process closes its database and HTTP pool after the drain.
STOP_ALLOWANCE = 6.0


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        "CSTAR_DATABASE_URL": settings.database_url,
        "CSTAR_MASTER_KEY": ",".join(settings.master_keys),
        "CSTAR_RATE_LIMIT": "1000000/60s",
        "CSTAR_DELIVERY_TIMEOUT": f"{DELIVERY_TIMEOUT}s",
        "CSTAR_ENDPOINT_CONCURRENCY": "8",
    }
    env.update(extra)
    return env


async def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _slow_body(base_url: str, team: CreatedTeam) -> socket.socket:
    """A request that promises 1,000 bytes of body and sends 10."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        f"POST /api/v1/teams/{team.team.id}/events HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {team.secret_key}\r\nContent-Type: application/json\r\n"
        'Content-Length: 1000\r\n\r\n{"type": "'.encode()
    )
    return sock


async def test_sigterm_ends_within_the_delivery_timeout_and_records_what_finished(
    settings: Settings,
    shared: Container,
    hung: HungEndpoint,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    team = await shared.teams.create_team("Stopping")
    hung_url = await hung.start()
    for name, url in (("hung", hung_url), ("fast", receiver.url())):
        await shared.webhooks.create(team.team.id, WebhookDraft(name=name, url=url, events="*"))
    for i in range(300):
        await shared.events.publish(team.team.id, "ticket.created", {"ticket": {"id": f"t{i}"}})

    running = start_server(tmp_path, env=server_env(settings), args=["--dev"])
    slow: socket.socket | None = None
    try:
        await _wait(lambda: hung.connections >= 8, 30, "8 requests in flight to the hung endpoint")
        slow = _slow_body(running.base_url, team)
        stream_url = f"{running.base_url}/api/v1/teams/{team.team.id}/events/stream"
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("GET", stream_url, headers=bearer(team.secret_key)) as stream,
        ):
            assert stream.status_code == 200
            started = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(running.process.wait, 60)
            elapsed = time.monotonic() - started
    finally:
        if slow is not None:
            slow.close()
        running.stop()
    assert code == 0, running.output
    assert elapsed < DELIVERY_TIMEOUT + STOP_ALLOWANCE, (elapsed, running.output)
    assert "Traceback" not in running.output, running.output

    def leased(conn: sa.Connection) -> int:
        return int(
            conn.scalar(
                sa.select(sa.func.count())
                .select_from(deliveries)
                .where(deliveries.c.lease_until.is_not(None))
            )
            or 0
        )

    def attempts(conn: sa.Connection) -> int:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(delivery_attempts)) or 0)

    # Every request that was in flight was recorded (the hung ones as timed out), and nothing is
    # left leased: another process takes the rest at once.
    assert await shared.database.read(leased) == 0
    hung_attempts = await shared.database.read(
        lambda c: (
            c.execute(
                sa.select(delivery_attempts.c.error).where(delivery_attempts.c.url == hung_url)
            )
            .scalars()
            .all()
        )
    )
    assert len(hung_attempts) == hung.connections
    assert all(e and "timed out" in e for e in hung_attempts)
    assert await shared.database.read(attempts) == len(receiver.received()) + hung.connections


async def _corrupt_a_delivery(shared: Container) -> None:
    """A row an operator edited by hand: the dispatcher cannot read its due time."""
    team = await shared.teams.create_team("Corrupt")
    await shared.webhooks.create(
        team.team.id, WebhookDraft(name="h", url="http://127.0.0.1:9/h", events="*")
    )
    await shared.events.publish(team.team.id, "ticket.created", {"ticket": {"id": "t"}})
    await shared.database.write(
        lambda c: c.exec_driver_sql("UPDATE deliveries SET next_attempt_at = 'not a time'")
    )


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_a_dead_dispatcher_stops_the_process_with_an_error(
    settings: Settings, shared: Container, tmp_path: Path, command: str
) -> None:
    await _corrupt_a_delivery(shared)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSTAR_")}
    env.update(server_env(settings))
    process = await asyncio.create_subprocess_exec(
        CSTAR,
        command,
        "--dev",
        *(["--port", "0"] if command == "serve" else []),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = err.decode()
    assert process.returncode == 1, text
    assert "the dispatcher stopped unexpectedly (ValueError" in text
    assert text.strip().splitlines()[-1].startswith("error: the dispatcher stopped unexpectedly")


async def test_healthz_answers_503_once_the_dispatcher_has_died(
    client: httpx.AsyncClient, container: Container
) -> None:
    assert (await client.get("/healthz")).status_code == 200
    container.health.fail("the dispatcher stopped unexpectedly (RuntimeError: boom)")
    response = await client.get("/healthz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "the dispatcher stopped unexpectedly" in error["message"]
