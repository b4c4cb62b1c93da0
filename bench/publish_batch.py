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
import sys
import time

import aiohttp
import uvloop

from bench.api_server import DATA, running_api


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
    async with running_api(backend, subscribe=True) as api:
        base = f"{api.base_url}/api/v1/teams/{api.team_id}/events"
        batch = {"events": [{"type": "ticket.created", "data": DATA}] * args.batch}
        batched = await hammer(f"{base}/batch", api.key, batch, args.batch, args)
        single = await hammer(base, api.key, {"type": "ticket.created", "data": DATA}, 1, args)
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
