"""Delivery benchmark: sustained deliveries per second, and publish-to-2xx latency, against the
ceiling of the HTTP client itself.

    .venv/bin/python bench/delivery.py                     # SQLite and PostgreSQL
    .venv/bin/python bench/delivery.py --backend sqlite --events 20000
    .venv/bin/python bench/delivery.py --backend postgres --history-days 0   # no past partitions

It measures, in one run and against the same fast local receiver (nginx answering 200, or a
Python receiver in another process when nginx is not installed):

1. the ceiling: a bare loop of signed POSTs from the dispatcher's own HTTP client (pyreqwest,
   the same settings), ``--concurrency`` in flight, no bookkeeping; and, beside it, the same loop
   through aiohttp on uvloop (the dispatcher's client until 2026-12-04);
2. throughput: a backlog of ``--events`` published events drained by one dispatcher, every
   attempt durably logged (SQLite synchronous=FULL; PostgreSQL fsync on commit);
3. latency: ``--rate`` events per second published for ``--seconds``; time from the call to
   publish to the 2xx answer reaching the dispatcher, p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import uvloop
from cryptography.fernet import Fernet

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.dispatch.request import delivery_headers
from cstar.server.dispatch.sender import Sender, SendResult
from cstar.server.domain.clock import utc_now
from cstar.server.services.webhooks import WebhookDraft

PG_ADMIN = os.environ.get("CSTAR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BODY = (
    b'{"id":"evt_ticket_created_1774583010044_abc12345","type":"ticket.created",'
    b'"created_at":"2026-03-06T14:30:00Z","team_id":"550e8400-e29b-41d4-a716-446655440000",'
    b'"data":{"ticket":{"id":"25990cb8-cbbf-4671-a973-672cde1cf42d","title":"Cannot log in",'
    b'"status":"new","priority":"high","customer_id":"cd17b730-387d-424e-a50b-eb4a44e543af",'
    b'"customer_name":"Jane Doe","created_at":"2026-03-06T14:30:00Z","dashboard_url":'
    b'"https://www.cstar.help/team/my-team/tickets?selected=25990cb8"},"customer":{"id":'
    b'"cd17b730-387d-424e-a50b-eb4a44e543af","name":"Jane Doe","email":"jane@example.com"}}}'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- the receiver ---------------------------------------------------------------------------------


@contextmanager
def receiver() -> Iterator[tuple[str, str]]:
    """A fast receiver answering 200 to every POST: nginx if installed, else Python."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-"))
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        conf = workdir / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_buffer_size 16k;
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok"; }} }}
}}
"""
        )
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(workdir)])
        kind = "nginx (1 worker, return 200)"
    else:
        code = (
            "import sys; from aiohttp import web\n"
            "async def ok(r):\n    await r.read(); return web.Response(text='ok')\n"
            "app = web.Application(); app.router.add_post('/{t:.*}', ok)\n"
            f"web.run_app(app, host='127.0.0.1', port={port}, print=None, access_log=None)\n"
        )
        process = subprocess.Popen([sys.executable, "-c", code])
        kind = "Python aiohttp receiver (nginx not installed: it competes for the CPU)"
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/webhook", kind
    finally:
        process.send_signal(signal.SIGTERM if not nginx else signal.SIGQUIT)
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


# -- 1. the ceiling -------------------------------------------------------------------------------


def signed_headers() -> dict[str, str]:
    return dict(
        delivery_headers(
            body=BODY,
            secrets=["whsec_" + "b" * 40],
            event_id="evt_x",
            event_type="ticket.created",
            webhook_id="whk_x",
            attempt=1,
            request_id=None,
            now=utc_now(),
        )
    )


async def ceiling(url: str, *, requests: int, concurrency: int) -> float:
    """Signed POSTs per second through the dispatcher's own client."""
    sender = Sender(timeout=10, max_response_bytes=4096, allow_private=True, pool_size=concurrency)
    await sender.start()

    async def post() -> None:
        result = await sender.send(url, BODY, signed_headers())
        if not result.success:
            raise RuntimeError(result.error)

    try:
        return await bare_loop(post, requests=requests, concurrency=concurrency)
    finally:
        await sender.close()


async def aiohttp_ceiling(url: str, *, requests: int, concurrency: int) -> float:
    """The same through aiohttp on uvloop, with the connector settings the dispatcher had."""
    connector = aiohttp.TCPConnector(
        limit=concurrency, limit_per_host=0, ttl_dns_cache=30, keepalive_timeout=30
    )
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=10),
        auto_decompress=False,
        trust_env=False,
        skip_auto_headers=("Accept-Encoding",),
    ) as session:

        async def post() -> None:
            async with session.post(
                url, data=BODY, headers=signed_headers(), allow_redirects=False
            ) as response:
                await response.content.read(4096)
                if response.status != 200:
                    raise RuntimeError(f"endpoint answered {response.status}")

        return await bare_loop(post, requests=requests, concurrency=concurrency)


async def bare_loop(
    post: Callable[[], Awaitable[None]], *, requests: int, concurrency: int
) -> float:
    remaining = requests

    async def loop() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await post()

    await asyncio.gather(*(loop() for _ in range(concurrency)))  # warm the pool
    remaining = requests
    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


# -- the system under test --------------------------------------------------------------------


async def fresh_database(backend: str, workdir: Path) -> tuple[str, Any]:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    name = f"cstar_bench_{os.getpid()}"
    admin = await asyncpg.connect(PG_ADMIN.replace("postgresql://", "postgres://", 1))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0]

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN.replace("postgresql://", "postgres://", 1))
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    return f"{base}/{name}", drop


async def history_partitions(node: Container, days: int) -> None:
    """On PostgreSQL, the day partitions of the last ``days`` days, as on a server that has
    kept that much history (every statement over the history sees each partition)."""
    today = utc_now().date()
    for back in range(0, days, 3):  # each call makes three days
        await node.delivery_store.add_partitions(today - timedelta(days=days - back))


async def node_for(database_url: str, concurrency: int) -> Container:
    settings = replace(
        Settings.from_env({}),
        database_url=database_url,
        dev=True,
        master_keys=(Fernet.generate_key().decode(),),
        endpoint_concurrency=concurrency,
        dispatch_concurrency=max(256, concurrency * 2),
    )
    return await open_container(settings, bootstrap=False)


class TimedSender(Sender):
    """The real sender, noting when each event's 2xx arrived (for the latency figure)."""

    def __init__(self, inner: Sender) -> None:
        self.inner = inner
        self.done: dict[str, float] = {}

    async def send(
        self, url: str, body: bytes, headers: Any, *, time_limit: float | None = None
    ) -> SendResult:
        result = await self.inner.send(url, body, headers, time_limit=time_limit)
        if result.success:
            self.done[headers["X-Event-ID"]] = time.perf_counter()
        return result


async def throughput(
    node: Container, url: str, events: int, *, name: str = "Bench"
) -> tuple[float, float]:
    """Publish a backlog, then drain it with one dispatcher: (deliveries/s, publish/s)."""
    team = await node.teams.create_team(name)
    await node.webhooks.create(team.team.id, WebhookDraft(name="bench", url=url, events="*"))
    data = {"ticket": {"id": "25990cb8", "title": "Cannot log in", "status": "new"}}
    started = time.perf_counter()
    batch = 32
    for offset in range(0, events, batch):
        await asyncio.gather(
            *(
                node.events.publish(team.team.id, "ticket.created", data)
                for _ in range(min(batch, events - offset))
            )
        )
    publish_rate = events / (time.perf_counter() - started)
    dispatcher = node.dispatcher()
    started = time.perf_counter()
    task = asyncio.create_task(dispatcher.run())
    while dispatcher.recorded < events:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    dispatcher.stop()
    await task
    return events / elapsed, publish_rate


async def latency(node: Container, url: str, *, rate: int, seconds: float) -> list[float]:
    team = await node.teams.create_team("Latency")
    await node.webhooks.create(team.team.id, WebhookDraft(name="lat", url=url, events="*"))
    timed = TimedSender(node.sender)
    dispatcher = node.dispatcher()
    dispatcher._sender = timed  # the benchmark observes the real sender
    task = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0.2)
    sent_at: dict[str, float] = {}
    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = time.perf_counter()
        outcome = await node.events.publish(team.team.id, "ticket.created", {"n": i})
        sent_at[outcome.event.id] = t0
    deadline = time.perf_counter() + 10
    while len(timed.done) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    dispatcher.stop()
    await task
    return sorted((timed.done[e] - t0) * 1000 for e, t0 in sent_at.items() if e in timed.done)


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def run(args: argparse.Namespace) -> None:
    command = "python bench/delivery.py " + " ".join(sys.argv[1:])
    with receiver() as (url, kind):
        print(f"receiver: {kind}")
        print(
            f"ceiling: signed POSTs from the dispatcher's own client (pyreqwest), "
            f"{args.concurrency} in flight, no bookkeeping, and beside it aiohttp on uvloop; "
            "each round measures both next to the throughput they are compared with (this "
            "machine's speed drifts by 20% and more)"
        )
        backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
        for backend in backends:
            workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-db-"))
            database_url, drop = await fresh_database(backend, workdir)
            node = await node_for(database_url, args.concurrency)
            rounds: list[tuple[float, float, float, float]] = []
            try:
                await history_partitions(node, args.history_days)
                for index in range(args.rounds):
                    top = await ceiling(
                        url, requests=args.ceiling_requests, concurrency=args.concurrency
                    )
                    other = await aiohttp_ceiling(
                        url, requests=args.ceiling_requests, concurrency=args.concurrency
                    )
                    rate, publish_rate = await throughput(
                        node, url, args.events, name=f"Bench {index}"
                    )
                    rounds.append((rate, top, publish_rate, other))
                    print(
                        f"[{backend}] round {index + 1}: {rate:,.0f} deliveries/s against a "
                        f"ceiling of {top:,.0f}/s ({rate / top:.0%}); aiohttp's ceiling "
                        f"{other:,.0f}/s ({rate / other:.0%})"
                    )
                lat = await latency(node, url, rate=args.rate, seconds=args.seconds)
            finally:
                await node.aclose()
                if drop is not None:
                    await drop()
                shutil.rmtree(workdir, ignore_errors=True)
            rate = statistics.median(r[0] for r in rounds)
            top = statistics.median(r[1] for r in rounds)
            ratio = statistics.median(r[0] / r[1] for r in rounds)
            publish_rate = statistics.median(r[2] for r in rounds)
            other = statistics.median(r[3] for r in rounds)
            other_ratio = statistics.median(r[0] / r[3] for r in rounds)
            print(
                f"[{backend}] throughput: {rate:,.0f} deliveries/s with every attempt durably "
                f"logged (median of {len(rounds)} rounds of {args.events:,}); ceiling "
                f"{top:,.0f}/s; ratio {ratio:.0%} (median of the per-round ratios); aiohttp's "
                f"ceiling {other:,.0f}/s, ratio {other_ratio:.0%}; publishing ran at "
                f"{publish_rate:,.0f} events/s"
            )
            print(
                f"[{backend}] latency at {args.rate} events/s: p50 {pct(lat, 50):.1f} ms, "
                f"p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms "
                f"({len(lat)} of {int(args.rate * args.seconds)} delivered)"
            )
    print(f"command: {command}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ceiling-requests", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument(
        "--history-days",
        type=int,
        default=30,
        help="PostgreSQL: day partitions of past history to create first (the retention)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
