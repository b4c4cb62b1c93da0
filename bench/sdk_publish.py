"""Publishing through the Python SDK's async client: httpx's own transport against aiohttp's.

    .venv/bin/python -m bench.sdk_publish                   # SQLite, 3 rounds, 16 calls in flight
    .venv/bin/python -m bench.sdk_publish --backend postgres --concurrency 64

A real server (``cstar serve --api-only``, one process) on a fresh database with no webhook.
Each round runs the same loop of ``client.events.publish`` calls, ``--concurrency`` in flight for
``--seconds``, through ``AsyncCStarClient`` on plain ``httpx.AsyncClient`` and then on
``httpx_aiohttp.HttpxAiohttpClient`` (the SDK's default when the ``fast`` extra is installed).
Every call must succeed. The summary gives the medians and the median per-round ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import httpx
import uvloop
from httpx_aiohttp import HttpxAiohttpClient

from bench.api_server import DATA, ApiServer, running_api
from cstar.sdk import AsyncCStarClient


async def publish_loop(http: httpx.AsyncClient, api: ApiServer, args: argparse.Namespace) -> float:
    """Events published per second through the SDK."""
    done = 0
    async with AsyncCStarClient(
        api_key=api.key, team_id=api.team_id, base_url=api.base_url, http_client=http
    ) as client:

        async def caller(until: float) -> None:
            nonlocal done
            while time.perf_counter() < until:
                await client.events.publish("ticket.created", DATA)
                done += 1

        await asyncio.gather(*(caller(time.perf_counter() + 0.5) for _ in range(args.concurrency)))
        done = 0
        started = time.perf_counter()
        until = started + args.seconds
        await asyncio.gather(*(caller(until) for _ in range(args.concurrency)))
        return done / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=args.concurrency)
    rows: list[tuple[float, float]] = []
    async with running_api(args.backend, subscribe=False) as api:
        for round_ in range(1, args.rounds + 1):
            async with httpx.AsyncClient(limits=limits, timeout=30) as plain:
                httpx_rate = await publish_loop(plain, api, args)
            async with HttpxAiohttpClient(limits=limits, timeout=30) as fast:
                aiohttp_rate = await publish_loop(fast, api, args)
            rows.append((httpx_rate, aiohttp_rate))
            print(
                f"round {round_}: httpx {httpx_rate:,.0f} events/s, httpx-aiohttp "
                f"{aiohttp_rate:,.0f} events/s ({aiohttp_rate / httpx_rate:.2f}x)",
                flush=True,
            )
    plain_median = statistics.median(r[0] for r in rows)
    fast_median = statistics.median(r[1] for r in rows)
    ratio = statistics.median(r[1] / r[0] for r in rows)
    print(
        f"[{args.backend}] AsyncCStarClient.events.publish, {args.concurrency} calls in flight: "
        f"httpx {plain_median:,.0f} events/s, httpx-aiohttp {fast_median:,.0f} events/s "
        f"(median ratio {ratio:.2f}x)"
    )
    print("command: python -m bench.sdk_publish " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    uvloop.run(main(parser.parse_args()))
