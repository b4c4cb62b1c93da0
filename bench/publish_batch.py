"""Batch publishing: events accepted per second through ``POST /events/batch``, 16 clients.

    .venv/bin/python -m bench.publish_batch                      # SQLite and PostgreSQL
    .venv/bin/python -m bench.publish_batch --backend sqlite --seconds 10

A real server (``cstar serve --api-only``, uvicorn, one process) on a fresh database, with one
webhook subscribed to every event, so that each event also queues one delivery. ``--clients``
aiohttp clients, each with one request in flight, post batches of ``--batch`` events for
``--seconds``; then the same clients post single events to ``POST /events`` for comparison. Every
answer must be a 202. The server's rate limit is raised out of the way (a batch counts as one
request against it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import uvloop
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
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    process.terminate()
    raise RuntimeError("the server did not start")


async def hammer(
    url: str, key: str, body: dict[str, object], events_per_request: int, args: argparse.Namespace
) -> float:
    """Events accepted per second, ``args.clients`` requests in flight, for ``args.seconds``."""
    headers = {"Authorization": f"Bearer {key}"}
    accepted = 0
    deadline = 0.0
    connector = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def client() -> None:
            nonlocal accepted
            while time.perf_counter() < deadline:
                async with http.post(url, json=body) as answer:
                    text = await answer.read()
                    if answer.status != 202:
                        raise RuntimeError(f"{answer.status}: {text[:300]!r}")
                accepted += events_per_request

        deadline = time.perf_counter() + 1.0  # warm up: connections, caches
        await asyncio.gather(*(client() for _ in range(args.clients)))
        accepted = 0
        started = time.perf_counter()
        deadline = started + args.seconds
        await asyncio.gather(*(client() for _ in range(args.clients)))
        return accepted / (time.perf_counter() - started)


async def run_backend(backend: str, args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-batch-"))
    database_url, drop = await fresh_database(backend, workdir)
    master_key = Fernet.generate_key().decode()
    try:
        team_id, key = await prepare(database_url, master_key)
        port = free_port()
        server = await start_server(database_url, master_key, port)
        try:
            base = f"http://127.0.0.1:{port}/api/v1/teams/{team_id}/events"
            batch = {"events": [{"type": "ticket.created", "data": DATA}] * args.batch}
            batched = await hammer(f"{base}/batch", key, batch, args.batch, args)
            single = await hammer(base, key, {"type": "ticket.created", "data": DATA}, 1, args)
        finally:
            server.terminate()
            await server.wait()
    finally:
        if drop is not None:
            await drop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"[{backend}] batches of {args.batch}: {batched:,.0f} events/s accepted; single "
        f"publishes: {single:,.0f} events/s ({args.clients} clients, one request in flight "
        f"each, {args.seconds:g} s; every event queues one delivery)"
    )


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        await run_backend(backend, args)
    print("command: python -m bench.publish_batch " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    uvloop.run(main(parser.parse_args()))
