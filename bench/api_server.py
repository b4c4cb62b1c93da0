"""A real API server for the benchmarks: ``cstar serve --api-only`` on a fresh database.

Used by ``publish_batch.py``, ``ingest.py`` and ``sdk_publish.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet

from bench.delivery import free_port, fresh_database
from cstar.server.bootstrap import open_container
from cstar.server.config import Settings
from cstar.server.services.webhooks import WebhookDraft

CSTAR = str(Path(sys.executable).with_name("cstar"))
DATA = {"ticket": {"id": "25990cb8", "title": "Cannot log in", "status": "new", "priority": "high"}}


async def prepare(database_url: str, master_key: str, *, subscribe: bool = True) -> tuple[str, str]:
    """A team with a secret key and (``subscribe``) one webhook for every event: (team id,
    key)."""
    settings = replace(
        Settings.from_env({}), database_url=database_url, dev=True, master_keys=(master_key,)
    )
    node = await open_container(settings, bootstrap=False)
    try:
        team = await node.teams.create_team("Batch bench")
        if subscribe:
            await node.webhooks.create(
                team.team.id, WebhookDraft(name="all", url="https://example.com/hook", events="*")
            )
        return team.team.id, team.secret_key
    finally:
        await node.aclose()


async def start_server(database_url: str, master_key: str, port: int) -> asyncio.subprocess.Process:
    env = os.environ | {
        "CSTAR_DATABASE_URL": database_url,
        "CSTAR_MASTER_KEY": master_key,
        "CSTAR_RATE_LIMIT": "100000000/60s",
        "CSTAR_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        CSTAR,
        "serve",
        "--api-only",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_until_up(f"http://127.0.0.1:{port}/healthz")
    except RuntimeError:
        process.terminate()
        raise
    return process


async def wait_until_up(url: str) -> None:
    """Until ``url`` answers 200, for 15 s at most."""
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


@dataclass(frozen=True, slots=True)
class ApiServer:
    base_url: str
    team_id: str
    key: str
    #: A scratch folder, removed afterwards.
    workdir: Path


@asynccontextmanager
async def running_api(backend: str, *, subscribe: bool) -> AsyncIterator[ApiServer]:
    """A fresh database with one team (``subscribe``: and a webhook for every event) and a
    ``cstar serve --api-only`` on it; all removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-api-"))
    database_url, drop = await fresh_database(backend, workdir)
    master_key = Fernet.generate_key().decode()
    try:
        team_id, key = await prepare(database_url, master_key, subscribe=subscribe)
        port = free_port()
        server = await start_server(database_url, master_key, port)
        try:
            yield ApiServer(f"http://127.0.0.1:{port}", team_id, key, workdir)
        finally:
            server.terminate()
            await server.wait()
    finally:
        if drop is not None:
            await drop()
        shutil.rmtree(workdir, ignore_errors=True)
