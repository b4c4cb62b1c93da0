"""A million pending: a big endpoint down for a day, while another is delivered to live.

    .venv/bin/python -m bench.backlog                          # SQLite and PostgreSQL
    .venv/bin/python -m bench.backlog --backend postgres --pending 200000

One team, two webhooks: ``live`` (nginx, or a Python receiver, answering 200) subscribed to
``ticket.*``, and ``down`` (a closed port on 127.0.0.1: every attempt is refused at once)
subscribed to ``customer.*``. Each backend is measured twice, first with nothing pending, then
with ``--pending`` deliveries to ``down`` written in bulk, created over the past day and falling
due over the next six hours (about 46 a second for a million; ``--due-now 0.02`` makes 2 % due at
once as well): retries keep coming due, are attempted, fail and are rescheduled, as they would
while the endpoint is down.

Measured each time:

- **worker RSS**: one ``cstar worker`` process (``--dev``, ``CSTAR_METRICS_PORT`` set) runs for
  ``--seconds`` while ``--rate`` events/s are published to ``live``; its resident memory is
  sampled every 250 ms (``/proc``), the maximum reported;
- **cycle p99**: the dispatcher's cycle durations over that run, from the worker's own
  ``cstar_dispatcher_cycle_duration_seconds`` histogram (interpolated within its buckets, as
  Prometheus's ``histogram_quantile`` does);
- **publish rate**: ``--publishes`` events published in this process, 32 at a time;
- **lists**: server time (ASGI, in this process) of the API's list of ``down``'s deliveries and
  of the dashboard's logs page of ``down``, medians of 20.

Targets (issue 12): RSS under 200 MB; cycle p99 within twice its value on an empty queue;
publishing speed unchanged; lists fast (the dashboard's target elsewhere is 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
import uvloop
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from bench.dashboard import _pg_admin, _series, sign_in, timed
from bench.delivery import free_port, receiver
from bench.workers import start_worker, worker_env
from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.domain.clock import utc_now
from cstar.server.services.webhooks import WebhookDraft

PG_ADMIN = os.environ.get("CSTAR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
RSS_LIMIT_MB = 200.0


@dataclass
class Phase:
    rss_mb: float
    cycle_p99_ms: float
    cycles: int
    publish_rate: float
    api_list_ms: float
    dashboard_logs_ms: float


def closed_port() -> int:
    """A port nothing listens on (refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed_pending(
    node: Container, team_id: str, hook_id: str, count: int, due_now: float
) -> None:
    pg = node.database.dialect == "postgresql"
    now = utc_now()

    def moment(offset: str, span: str, bound: str) -> str:
        """Row ``i`` of ``bound`` spread over ``span`` seconds from ``offset`` seconds on."""
        if pg:
            return (
                f"CAST(:now AS timestamptz) + ({offset} + i * CAST({span} AS double precision) "
                f"/ {bound}) * interval '1 second'"
            )
        return (
            "strftime('%Y-%m-%d %H:%M:%f', :now, "
            f"printf('%+.3f seconds', {offset} + i * {span} / {bound}))"
        )

    events = max(1, count // 1000)
    top = sa.text("SELECT COALESCE(MAX(seq), 0) FROM events")
    base = int(await node.database.read(lambda c: c.scalar(top)))
    params = {
        "base": base,
        "team": team_id,
        "hook": hook_id,
        "n": count,
        "events": events,
        "now": now if pg else now.replace(tzinfo=None).isoformat(" ", "microseconds"),
    }
    day = 86400.0
    statements = [
        "INSERT INTO events (id, team_id, type, payload, request_id, is_test, created_at"
        f"{'' if pg else ', seq'}) "
        "SELECT 'evt_backlog_' || i, :team, 'customer.updated', "
        '\'{"type": "customer.updated", "data": {"customer": {"id": "c-1"}}}\', NULL, '
        f"{'false' if pg else '0'}, {moment(str(-day), str(day), ':events')}"
        f"{'' if pg else ', :base + i'} FROM {_series(pg, ':events')}",
        "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, "
        "attempts, retry_index, next_attempt_at, last_status_code, last_error, created_at, "
        "updated_at) "
        "SELECT 'dlv_backlog_' || i, :team, 'evt_backlog_' || (1 + (i - 1) / 1000), :hook, "
        "'customer.updated', 'pending', 3, 3, "
        # Falling due over the next 6 hours (and ``due_now`` of them already due).
        f"{moment(str(-21600.0 * due_now), '21600.0', ':n')}, NULL, 'connection failed', "
        f"{moment(str(-day), str(day), ':n')}, {moment(str(-day), str(day), ':n')} "
        f"FROM {_series(pg, ':n')}",
        "ANALYZE",
    ]
    for statement in statements:
        await node.database.write(lambda c, s=statement: c.execute(sa.text(s), params))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def histogram_p99(text: str, name: str) -> tuple[float, int]:
    """The 0.99 quantile of a histogram (linear within the bucket), and its count."""
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    if not total:
        return 0.0, 0
    rank = 0.99 * total
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower, int(total)
            share = (rank - below) / (cumulative - below) if cumulative > below else 1.0
            return lower + (bound - lower) * share, int(total)
        lower, below = bound, cumulative
    return lower, int(total)


async def publish_rate(node: Container, team_id: str, count: int) -> float:
    started = time.perf_counter()
    for offset in range(0, count, 32):
        await asyncio.gather(
            *(
                node.events.publish(team_id, "ticket.created", {"n": n})
                for n in range(offset, min(count, offset + 32))
            )
        )
    return count / (time.perf_counter() - started)


async def worker_run(
    node: Container, settings: Settings, team_id: str, rate: int, seconds: float
) -> tuple[float, float, int]:
    """(max RSS in MB, cycle p99 in ms, cycles) of a ``cstar worker`` under live traffic."""
    port = free_port()
    env = worker_env(node, settings.database_url, 64, CSTAR_METRICS_PORT=str(port))
    worker = await start_worker(env)
    peak = 0.0
    try:
        interval = 1.0 / rate
        started = time.perf_counter()
        sampled = 0.0
        n = 0
        while (now := time.perf_counter()) - started < seconds:
            target = started + n * interval
            if target > now:
                await asyncio.sleep(target - now)
            await node.events.publish(team_id, "ticket.created", {"live": n})
            n += 1
            if now - sampled >= 0.25:
                peak = max(peak, rss_mb(worker.pid))
                sampled = now
        await asyncio.sleep(1.0)
        peak = max(peak, rss_mb(worker.pid))
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=60)).text
    finally:
        worker.terminate()
        await worker.wait()
    p99, cycles = histogram_p99(text, "cstar_dispatcher_cycle_duration_seconds")
    return peak, p99 * 1000, cycles


async def measure(
    node: Container,
    settings: Settings,
    client: httpx.AsyncClient,
    ids: dict[str, str],
    args: argparse.Namespace,
) -> Phase:
    team, down, key = ids["team"], ids["down"], ids["key"]
    rate = await publish_rate(node, team, args.publishes)
    api = await timed(
        lambda: client.get(
            f"/api/v1/teams/{team}/webhooks/{down}/deliveries?limit=50",
            headers={"Authorization": f"Bearer {key}"},
        ),
        20,
    )
    logs = await timed(
        lambda: client.get(f"/dashboard/settings/integrations/webhooks/{down}/logs"), 20
    )
    rss, p99, cycles = await worker_run(node, settings, team, args.rate, args.seconds)
    return Phase(rss, p99, cycles, rate, statistics.median(api), statistics.median(logs))


async def run_backend(backend: str, args: argparse.Namespace) -> tuple[Phase, Phase]:
    workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-backlog-"))
    database = f"cstar_bench_backlog_{os.getpid()}"
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{database}"')
        await _pg_admin(f'CREATE DATABASE "{database}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
    settings = Settings(database_url=url, master_keys=(Fernet.generate_key().decode(),), dev=True)
    node = await open_container(settings, bootstrap=False)
    try:
        with receiver() as (live_url, _kind):
            made = await node.teams.create_team("Backlog")
            team = made.team.id
            down = await node.webhooks.create(
                team,
                WebhookDraft(
                    name="down", url=f"http://127.0.0.1:{closed_port()}/in", events="customer.*"
                ),
            )
            await node.webhooks.create(
                team, WebhookDraft(name="live", url=live_url, events="ticket.*")
            )
            ids = {"team": team, "down": down.webhook.id, "key": made.secret_key}
            app = create_app(settings, container=node)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as client:
                await sign_in(client, made.secret_key)
                empty = await measure(node, settings, client, ids, args)
                began = time.perf_counter()
                await seed_pending(node, team, down.webhook.id, args.pending, args.due_now)
                print(
                    f"[{backend}] {args.pending:,} pending deliveries written in "
                    f"{time.perf_counter() - began:.0f} s",
                    flush=True,
                )
                full = await measure(node, settings, client, ids, args)
    finally:
        await node.aclose()
        if backend == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return empty, full


def report(backend: str, pending: int, empty: Phase, full: Phase) -> None:
    print(f"\n[{backend}] nothing pending -> {pending:,} pending")
    rows = [
        ("worker RSS, max (MB)", empty.rss_mb, full.rss_mb, "{:.0f}"),
        ("dispatcher cycle p99 (ms)", empty.cycle_p99_ms, full.cycle_p99_ms, "{:.2f}"),
        ("cycles measured", empty.cycles, full.cycles, "{:,.0f}"),
        ("publishes/s (in process)", empty.publish_rate, full.publish_rate, "{:,.0f}"),
        ("API list of down's deliveries (ms)", empty.api_list_ms, full.api_list_ms, "{:.1f}"),
        ("dashboard logs of down (ms)", empty.dashboard_logs_ms, full.dashboard_logs_ms, "{:.1f}"),
    ]
    for label, a, b, fmt in rows:
        print(f"  {label:<38}{fmt.format(a):>10}{fmt.format(b):>12}")
    checks = [
        (f"RSS {full.rss_mb:.0f} MB < {RSS_LIMIT_MB:.0f} MB", full.rss_mb < RSS_LIMIT_MB),
        (
            f"cycle p99 {full.cycle_p99_ms / empty.cycle_p99_ms:.2f}x of empty (<= 2x)",
            full.cycle_p99_ms <= 2 * empty.cycle_p99_ms,
        ),
        (
            f"publishing {full.publish_rate / empty.publish_rate:.0%} of empty",
            full.publish_rate >= 0.9 * empty.publish_rate,
        ),
        (
            f"lists {max(full.api_list_ms, full.dashboard_logs_ms):.0f} ms (< 100 ms)",
            max(full.api_list_ms, full.dashboard_logs_ms) < 100,
        ),
    ]
    for text, ok in checks:
        print(f"  {'met' if ok else 'NOT MET'}: {text}")


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        empty, full = await run_backend(backend, args)
        report(backend, args.pending, empty, full)
    print(f"\ncommand: python -m bench.backlog {' '.join(sys.argv[1:])}".rstrip())


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--publishes", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=200, help="live events/s during the run")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--due-now",
        type=float,
        default=0.0,
        help="share of the backlog already due when the run starts (0.02: a burst of 2 %%)",
    )
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
