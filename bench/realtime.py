"""Realtime stream benchmark: publish-to-subscriber latency, and how fast a stream drains a
burst, through a real ``cstar serve`` (a subprocess) and the SDK's async client.

    .venv/bin/python bench/realtime.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/realtime.py --backend sqlite --rate 100 --seconds 5

1. latency: ``--rate`` events per second published for ``--seconds`` while one subscriber
   listens; time from the call to publish to the event arriving at the subscriber, p50/p99;
2. burst: ``--burst`` events published by 16 concurrent publishers while the subscriber
   listens; events per second received (first to last), every one checked to arrive once;
3. replay: a subscriber that reconnects with ``Last-Event-ID`` before the burst receives it all
   from the database: events per second replayed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from cstar.sdk import AsyncCStarClient

PG_ADMIN = os.environ.get("CSTAR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
CSTAR = str(Path(sys.executable).with_name("cstar"))


def start_server(
    workdir: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str, str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CSTAR_")}
    full.update(env, CSTAR_LOG_LEVEL="WARNING", CSTAR_RATE_LIMIT="10000000/60s")
    log = (workdir / "server.out").open("wb")
    process = subprocess.Popen(
        [CSTAR, "serve", "--port", "0", "--dev"], cwd=workdir, env=full, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = (workdir / "server.out").read_text(errors="replace")
        url = re.search(r"Listening on (http://\S+?)\s", text)
        team = re.search(r"Team id:\s+(\S+)", text)
        key = re.search(r"Secret key:\s+(sk_\S+)", text)
        if url and team and key:
            return process, url.group(1), team.group(1), key.group(1)
        if process.poll() is not None:
            raise SystemExit(f"cstar serve exited:\n{text}")
        time.sleep(0.05)
    process.kill()
    raise SystemExit("cstar serve did not start")


async def run(base_url: str, team: str, key: str, args: argparse.Namespace) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}"}
    publish_url = f"{base_url}/api/v1/teams/{team}/events"
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    got: dict[str, float] = {}
    arrived = asyncio.Event()
    async with (
        AsyncCStarClient(api_key=key, team_id=team, base_url=base_url) as client,
        # Publishing through aiohttp: httpx's async client tops out near 200 requests/s here
        # (MEASURED.md), which would measure the publisher rather than the stream.
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http,
    ):

        def on_event(event: object) -> None:
            got[event.id] = time.perf_counter()  # type: ignore[attr-defined]
            arrived.set()

        sub = client.realtime.on("*", on_event)
        await asyncio.wait_for(sub.wait_ready(), 10)

        async def publish(n: int) -> None:
            started = time.perf_counter()
            async with http.post(
                publish_url, headers=headers, json={"type": "customer.updated", "data": {"n": n}}
            ) as response:
                response.raise_for_status()
                event_id = (await response.json())["data"]["id"]
            acked[event_id] = time.perf_counter()
            sent[event_id] = started

        total = int(args.rate * args.seconds)
        tasks = []
        begin = time.perf_counter()
        for n in range(total):
            tasks.append(asyncio.create_task(publish(n)))
            await asyncio.sleep(max(0.0, begin + (n + 1) / args.rate - time.perf_counter()))
        await asyncio.gather(*tasks)
        await wait_all(got, sent, 30)
        latencies = sorted((got[i] - sent[i]) * 1000 for i in sent)
        after_ack = sorted(max(0.0, got[i] - acked[i]) * 1000 for i in sent)
        cursor = sub.last_event_id

        sent.clear()
        got.clear()
        queue = list(range(args.burst))

        async def publisher() -> None:
            while queue:
                await publish(queue.pop())

        burst_start = time.perf_counter()
        await asyncio.gather(*(publisher() for _ in range(16)))
        published_in = time.perf_counter() - burst_start
        await wait_all(got, sent, 60)
        burst_rate = len(got) / (max(got.values()) - burst_start)
        lag = (max(got.values()) - max(acked.values())) * 1000
        await sub.aclose()

        replayed = 0
        replay_start = time.perf_counter()
        async for _event in client.realtime.stream("*", last_event_id=cursor):
            replayed += 1
            if replayed == args.burst:
                break
        replay_rate = replayed / (time.perf_counter() - replay_start)
    return {
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "ack_p50": statistics.median(after_ack),
        "ack_p99": after_ack[int(len(after_ack) * 0.99) - 1],
        "published": args.burst / published_in,
        "lag": lag,
        "max": latencies[-1],
        "count": len(latencies),
        "burst": burst_rate,
        "replay": replay_rate,
    }


async def wait_all(got: dict[str, float], sent: dict[str, float], limit: float) -> None:
    async with asyncio.timeout(limit):
        while not set(sent) <= set(got):
            await asyncio.sleep(0.01)


async def fresh_pg() -> str:
    name = f"cstar_bench_rt_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=3000)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            env = {} if backend == "sqlite" else {"CSTAR_DATABASE_URL": asyncio.run(fresh_pg())}
            process, url, team, key = start_server(Path(tmp), env)
            try:
                figures = asyncio.run(run(url, team, key, args))
            finally:
                process.terminate()
                process.wait(30)
        print(
            f"[{backend}] at {args.rate:g} events/s ({figures['count']:.0f} events): "
            f"publish call to subscriber p50 {figures['p50']:.1f} ms, "
            f"p99 {figures['p99']:.1f} ms (max {figures['max']:.1f}); "
            f"publish acknowledged to subscriber p50 {figures['ack_p50']:.1f} ms, "
            f"p99 {figures['ack_p99']:.1f} ms"
        )
        print(
            f"[{backend}] burst of {args.burst} from 16 publishers: published at "
            f"{figures['published']:,.0f}/s, received at {figures['burst']:,.0f}/s, last event "
            f"{figures['lag']:.0f} ms after its publish was acknowledged; replay after "
            f"Last-Event-ID: {figures['replay']:,.0f} events/s"
        )
    print("command: python bench/realtime.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
