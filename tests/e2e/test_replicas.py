"""Several API processes on one PostgreSQL database: ``cstar serve --workers N`` (N processes on
one port) and separate ``cstar serve --api-only`` replicas, whose rate limits hold together."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from tests.dispatch.support import auth
from tests.e2e.server import RunningServer, run_cstar, start_server
from tests.e2e.test_workers import setup_team, worker_env
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e
#: The replicas share a PostgreSQL database (``--workers`` refuses SQLite).
on_postgres = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def api_processes(server: RunningServer) -> list[int]:
    """The replicas: children of the supervisor, without multiprocessing's resource tracker."""
    return [
        pid
        for pid in children(server.process.pid)
        if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
    ]


async def wait_fresh_window(window: int, needed: float) -> None:
    """Sleep into a new fixed window when fewer than ``needed`` seconds are left of this one."""
    left = window - time.time() % window
    if left < needed:
        await asyncio.sleep(left + 0.05)


@on_postgres
async def test_workers_runs_n_api_processes_on_one_port_and_delivers(
    settings: Settings, shared: Container, receiver: Receiver, tmp_path: Path
) -> None:
    team, _webhook_id = await setup_team(shared, receiver)
    server = await asyncio.to_thread(
        start_server, tmp_path, env=worker_env(settings), args=["--dev", "--workers", "3"]
    )
    try:
        assert "processes:  3 on one port, each serving the API and a dispatcher" in server.output
        assert len(api_processes(server)) == 3, server.output
        async with httpx.AsyncClient(base_url=server.base_url, headers=auth(team)) as api:
            for n in range(30):
                # A new connection each time, so the kernel hands them to different processes.
                answer = await api.post(
                    f"/api/v1/teams/{team.team.id}/events",
                    json={"type": "ticket.created", "data": {"n": n}},
                    headers={"Connection": "close"},
                )
                assert answer.status_code == 202, answer.text
        await receiver.wait_for(30, timeout=30)
        replicas = api_processes(server)
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.output
    assert "Traceback" not in server.output, server.output
    assert not any(alive(pid) for pid in replicas)


@on_postgres
async def test_a_replica_that_dies_stops_the_server_with_an_error(
    settings: Settings, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(
        start_server, tmp_path, env=worker_env(settings), args=["--dev", "--workers", "2"]
    )
    try:
        first, second = api_processes(server)
        os.kill(first, signal.SIGKILL)
        code = await asyncio.to_thread(server.process.wait, 30)
    finally:
        await asyncio.to_thread(server.stop)
    assert code == 1, server.output
    assert f"API process 1 (pid {first}) exited unexpectedly with code -9" in server.output
    assert not alive(second)


async def test_workers_on_sqlite_is_refused_in_one_line(tmp_path: Path) -> None:
    result = await asyncio.to_thread(
        run_cstar,
        "serve",
        "--workers",
        "2",
        cwd=tmp_path,
        env={"CSTAR_DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("error: --workers needs PostgreSQL"), result.stderr
    assert not (tmp_path / "one.db").exists()


@on_postgres
async def test_a_rate_limit_holds_across_three_replicas(
    settings: Settings, shared: Container, receiver: Receiver, tmp_path: Path
) -> None:
    """The issue's bar: a limit of N per minute holds within 10% across 3 replicas."""
    limit = 300
    team, _webhook_id = await setup_team(shared, receiver)
    env = worker_env(settings, CSTAR_RATE_LIMIT=f"{limit}/60s")
    servers: list[RunningServer] = []
    try:
        for n in range(3):
            folder = tmp_path / f"replica-{n}"
            folder.mkdir()
            servers.append(
                await asyncio.to_thread(start_server, folder, env=env, args=["--api-only"])
            )
        await wait_fresh_window(60, needed=30)
        url = f"/api/v1/teams/{team.team.id}/webhooks"
        clients = [httpx.AsyncClient(base_url=s.base_url, headers=auth(team)) for s in servers]
        try:

            async def call(n: int) -> int:
                return (await clients[n % 3].get(url)).status_code

            codes: list[int] = []
            for start in range(0, 2 * limit, 50):  # twice the limit, 50 at a time
                codes += await asyncio.gather(*(call(n) for n in range(start, start + 50)))
        finally:
            for client in clients:
                await client.aclose()
    finally:
        for server in servers:
            await asyncio.to_thread(server.stop)
    allowed = codes.count(200)
    assert set(codes) == {200, 429}
    print(f"\n{allowed} of {len(codes)} requests allowed across 3 replicas, limit {limit}/60s")
    assert 0.9 * limit <= allowed <= limit
    # Each replica refused its share once the window was used up: none ran its own count.
    assert all(codes[n::3].count(429) > 0 for n in range(3))


@on_postgres
async def test_ctrl_c_stops_every_process_cleanly(settings: Settings, tmp_path: Path) -> None:
    server = await asyncio.to_thread(
        start_server,
        tmp_path,
        env=worker_env(settings, CSTAR_LOG_LEVEL="INFO"),
        args=["--dev", "--workers", "2"],
    )
    replicas = api_processes(server)
    assert len(replicas) == 2
    server.process.send_signal(signal.SIGINT)
    code = await asyncio.to_thread(server.process.wait, 30)
    await asyncio.to_thread(server.stop)
    assert code == 0, server.output
    assert "received SIGINT, stopping 2 processes" in server.output
    assert "Traceback" not in server.output
    assert not any(alive(pid) for pid in replicas)
