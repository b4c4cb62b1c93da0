"""``CSTAR_METRICS_PORT`` (``cstar serve``, ``cstar worker``, ``--workers`` adding up every
process's counts) and ``CSTAR_LOG_FORMAT=json``, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from tests.dispatch.support import auth
from tests.e2e.server import finish, run_cstar, start_server, start_worker
from tests.e2e.test_workers import setup_team, worker_env
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_metrics(port: int) -> dict[str, float]:
    """Unlabelled samples and label-joined ones, by name (``name{a=b}``)."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200, response.text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


async def metrics_once(port: int, sample: str, value: float) -> dict[str, float]:
    """The metrics once ``sample`` reads ``value`` (attempts are counted when recorded, a
    moment after the receiver has them), or the last read after 5 s."""
    for _ in range(100):
        found = await read_metrics(port)
        if found.get(sample) == value:
            break
        await asyncio.sleep(0.05)
    return found


async def test_serve_exposes_metrics_on_its_own_port_without_a_token(
    settings: Settings, shared: Container, receiver: Receiver, tmp_path: Path
) -> None:
    team, _ = await setup_team(shared, receiver)
    port = free_port()
    server = await asyncio.to_thread(
        start_server,
        tmp_path,
        env=worker_env(settings, CSTAR_METRICS_PORT=str(port)),
        args=["--dev"],
    )
    try:
        assert f"metrics:    http://127.0.0.1:{port}/metrics" in server.output
        async with httpx.AsyncClient(base_url=server.base_url, headers=auth(team)) as api:
            for n in range(4):
                answer = await api.post(
                    f"/api/v1/teams/{team.team.id}/events",
                    json={"type": "ticket.created", "data": {"n": n}},
                )
                assert answer.status_code == 202
            # Not on the API's port: no token is configured.
            assert (await api.get("/metrics")).status_code == 404
        await receiver.wait_for(4, timeout=15)
        found = await read_metrics(port)
        assert found["cstar_published_events_total"] == 4
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/")).status_code == 404
            assert (await http.get("/api/v1/status")).status_code == 404
            assert (await http.post("/metrics")).status_code == 405
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.output
    assert "Traceback" not in server.output


async def test_a_metrics_port_in_use_is_one_line(settings: Settings, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await asyncio.to_thread(
            run_cstar,
            "serve",
            "--port",
            "0",
            cwd=tmp_path,
            env={**worker_env(settings), "CSTAR_METRICS_PORT": str(port)},
        )
    assert result.returncode == 1, result.stderr
    assert (
        f"error: port {port} is already in use on 127.0.0.1; choose another with CSTAR_METRICS_PORT"
    ) in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_worker_exposes_its_deliveries(
    settings: Settings, shared: Container, receiver: Receiver
) -> None:
    team, _ = await setup_team(shared, receiver)
    for n in range(5):
        await shared.events.publish(team.team.id, "ticket.created", {"n": n})
    port = free_port()
    worker = await start_worker(worker_env(settings, CSTAR_METRICS_PORT=str(port)))
    try:
        await receiver.wait_for(5, timeout=30)
        found = await metrics_once(port, "cstar_delivery_attempts_total{outcome=succeeded}", 5)
        assert found["cstar_delivery_attempts_total{outcome=succeeded}"] == 5
        assert found["cstar_delivery_attempt_duration_seconds_count"] == 5
        assert found["cstar_pending_deliveries"] == 0
    finally:
        code, err = await finish(worker)
    assert code == 0, err


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_workers_add_up_every_process_counts(
    settings: Settings, shared: Container, receiver: Receiver, tmp_path: Path
) -> None:
    team, _ = await setup_team(shared, receiver)
    port = free_port()
    server = await asyncio.to_thread(
        start_server,
        tmp_path,
        env=worker_env(settings, CSTAR_METRICS_PORT=str(port)),
        args=["--dev", "--workers", "2"],
    )
    try:
        async with httpx.AsyncClient(base_url=server.base_url, headers=auth(team)) as api:
            for n in range(20):
                answer = await api.post(
                    f"/api/v1/teams/{team.team.id}/events",
                    json={"type": "ticket.created", "data": {"n": n}},
                    headers={"Connection": "close"},  # spread over both processes
                )
                assert answer.status_code == 202
        await receiver.wait_for(20, timeout=30)
        found = await metrics_once(port, "cstar_delivery_attempts_total{outcome=succeeded}", 20)
        assert found["cstar_published_events_total"] == 20
        assert found["cstar_delivery_attempts_total{outcome=succeeded}"] == 20
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.output


async def test_json_logs_are_one_object_per_line(
    settings: Settings, shared: Container, receiver: Receiver, tmp_path: Path
) -> None:
    team, _ = await setup_team(shared, receiver)
    server = await asyncio.to_thread(
        start_server,
        tmp_path,
        env=worker_env(settings, CSTAR_LOG_FORMAT="json", CSTAR_LOG_LEVEL="INFO"),
        args=["--dev"],
    )
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as api:
            # A key in the query string: the access log redacts it, in JSON too.
            await api.get(f"/api/v1/status?api_key={team.secret_key}")
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0
    lines = [line for line in server.stderr_lines if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    assert any(
        r["logger"] == "uvicorn.access" and "/api/v1/status" in r["message"] for r in records
    )
    assert team.secret_key not in "".join(lines)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CSTAR_LOG_FORMAT", "xml", "CSTAR_LOG_FORMAT must be one of text, json"),
        ("CSTAR_METRICS_TOKEN", "short", "CSTAR_METRICS_TOKEN must be at least 16"),
        ("CSTAR_METRICS_PORT", "70000", "CSTAR_METRICS_PORT must be a port from 1 to 65535"),
        ("CSTAR_METRICS_PORT", "http", "CSTAR_METRICS_PORT must be an integer"),
    ],
)
async def test_bad_observability_settings_are_one_line(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    result = await asyncio.to_thread(run_cstar, "serve", cwd=tmp_path, env={name: value})
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1
