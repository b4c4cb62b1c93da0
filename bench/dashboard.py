"""Dashboard benchmark: server time of its pages on a large team, SQLite and PostgreSQL.

    .venv/bin/python bench/dashboard.py          # both: 1,000 webhooks, 1,000,000 deliveries
    .venv/bin/python bench/dashboard.py --backend sqlite --deliveries 200000

The team gets ``--webhooks`` webhooks, one of them ``--deliveries`` deliveries over 30 days
(95 % succeeded, 3 % failed, 2 % pending), and every one of them 7 days of hourly statistics
(what the charts read), written in bulk. Each page is then requested
``--requests`` times through the ASGI app in this process, signed in: what is timed is the
server's work (routing, session, queries, rendering), not a network. Pages: the webhooks list
(first page, and a page 15 cursors deep), the big webhook's settings page (with its charts), its
logs (first page, 200 pages deep, filtered by status and by event type) and one delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.domain.clock import utc_now
from cstar.server.domain.stats import hour_of
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.schema import LATENCY_COLUMNS, delivery_stats

PG_ADMIN = os.environ.get("CSTAR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
HOME = "/dashboard/settings/integrations/webhooks"
TARGET_MS = 100.0


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def populate(node: Container, webhooks: int, deliveries: int) -> tuple[str, str, str]:
    """The team, its secret key and the webhook that holds every delivery."""
    team = await node.teams.create_team("Benchmark")
    ids: list[str] = []
    for i in range(webhooks):
        made = await node.webhooks.create(
            team.team.id,
            WebhookDraft(
                name=f"Endpoint {i:04d}", url=f"https://hooks{i}.example.com/in", events="*"
            ),
        )
        ids.append(made.webhook.id)
    big = ids[0]
    events = max(1, deliveries // 1000)
    now = utc_now()
    start = now - timedelta(days=30)
    pg = node.database.dialect == "postgresql"
    params: dict[str, object] = {
        "team": team.team.id,
        "hook": big,
        "n": deliveries,
        "events": events,
        "tag": secrets.token_hex(3),
        "start": start if pg else start.replace(tzinfo=None).isoformat(" ", "microseconds"),
        "span": (now - start).total_seconds(),
    }
    kind = "CASE WHEN {e} % 2 = 0 THEN 'ticket.created' ELSE 'customer.updated' END"
    event_of = "(1 + (i - 1) / 1000)"
    status = (
        "CASE WHEN i % 100 < 95 THEN 'succeeded' WHEN i % 100 < 98 THEN 'failed' ELSE 'pending' END"
    )
    statements = [
        "INSERT INTO events (id, team_id, type, payload, request_id, is_test, created_at"
        f"{'' if pg else ', seq'}) "
        f"SELECT 'evt_bench_' || :tag || '_' || i, :team, {kind.format(e='i')}, "
        '\'{"id": "evt_bench", "data": {}}\', NULL, '
        f"{'false' if pg else '0'}, {_moment(pg, ':events')}{'' if pg else ', i'} "
        f"FROM {_series(pg, ':events')}",
        "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, "
        "attempts, retry_index, next_attempt_at, last_status_code, created_at, updated_at, "
        "completed_at) "
        f"SELECT 'dlv_bench' || :tag || i, :team, 'evt_bench_' || :tag || '_' || {event_of}, "
        f":hook, {kind.format(e=event_of)}, {status}, 1, 1, "
        f"CASE WHEN i % 100 >= 98 THEN {_moment(pg, ':n')} ELSE NULL END, "
        f"CASE WHEN i % 100 < 95 THEN 200 ELSE 500 END, {_moment(pg, ':n')}, "
        f"{_moment(pg, ':n')}, CASE WHEN i % 100 < 98 THEN {_moment(pg, ':n')} ELSE NULL END "
        f"FROM {_series(pg, ':n')}",
        "ANALYZE",
    ]
    for statement in statements:
        await node.database.write(lambda c, s=statement: c.execute(sa.text(s), params))
    await node.database.write(
        lambda c: c.execute(delivery_stats.insert(), _week_of_stats(ids, now))
    )
    return team.team.id, team.secret_key, ids[0]


def _week_of_stats(webhook_ids: list[str], now: datetime) -> list[dict[str, object]]:
    """Seven days of hourly statistics for every webhook: what a busy team's charts read."""
    top = hour_of(now)
    rows = []
    for webhook_id in webhook_ids:
        for back in range(7 * 24):
            row: dict[str, object] = {
                "webhook_id": webhook_id,
                "hour": top - timedelta(hours=back),
                "succeeded": 950,
                "retrying": 30,
                "failed": 20,
            }
            row.update({name: 1000 // len(LATENCY_COLUMNS) for name in LATENCY_COLUMNS})
            rows.append(row)
    return rows


def _series(pg: bool, bound: str) -> str:
    """Rows numbered 1 to ``bound`` as ``i``."""
    if pg:
        return f"generate_series(1, {bound}) AS g(i)"
    return (
        "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g "
        f"WHERE i < {bound}) SELECT i FROM g)"
    )


def _moment(pg: bool, bound: str) -> str:
    """Row ``i`` of ``bound`` spread evenly over the 30 days from ``:start``."""
    if pg:
        return (
            "CAST(:start AS timestamptz) "
            f"+ (i * CAST(:span AS double precision) / {bound}) * interval '1 second'"
        )
    return f"strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (i * :span / {bound}) || ' seconds')"


async def sign_in(client: httpx.AsyncClient, key: str) -> None:
    """Sign ``client`` in to the dashboard with a secret key (its session cookie is kept)."""
    form = await client.get("/dashboard/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None, form.text
    signed = await client.post(
        "/dashboard/sign-in", data={"csrf": token.group(1), "secret_key": key, "next": ""}
    )
    assert signed.status_code == 303, signed.text


async def timed(fetch: Callable[[], Awaitable[httpx.Response]], requests: int) -> list[float]:
    await fetch()  # warm: templates compiled, plans cached
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await fetch()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


async def run_backend(backend: str, args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-dashboard-"))
    database = f"cstar_bench_dashboard_{os.getpid()}"
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{database}"')
        await _pg_admin(f'CREATE DATABASE "{database}"')
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + database
    settings = Settings(database_url=url, master_keys=(Fernet.generate_key().decode(),))
    node = await open_container(settings, bootstrap=False)
    try:
        began = time.perf_counter()
        _team, key, big = await populate(node, args.webhooks, args.deliveries)
        print(
            f"[{backend}] {args.webhooks:,} webhooks and {args.deliveries:,} deliveries written "
            f"in {time.perf_counter() - began:.0f} s"
        )
        app = create_app(settings, container=node)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            await sign_in(client, key)
            deep_list = HOME
            for _ in range(15):
                page = await client.get(deep_list)
                found = re.search(r'href="\?cursor=([^"]+)"', page.text)
                if found is None:
                    break
                deep_list = f"{HOME}?cursor={found.group(1)}"
            logs = f"{HOME}/{big}/logs"
            deep_logs = logs
            for _ in range(200):
                page = await client.get(deep_logs)
                found = re.search(r'&amp;cursor=([^"]+)"', page.text)
                if found is None:
                    break
                deep_logs = f"{logs}?cursor={found.group(1)}"
            first_logs = await client.get(logs)
            delivery = re.search(r'/deliveries/(dlv_[A-Za-z0-9]+)"', first_logs.text).group(1)  # type: ignore[union-attr]
            pages = [
                ("webhooks list, first page", HOME),
                ("webhooks list, 15 pages deep", deep_list),
                ("webhook settings page, with charts", f"{HOME}/{big}"),
                ("logs, first page", logs),
                ("logs, 200 pages deep", deep_logs),
                ("logs, status=failed", f"{logs}?status=failed"),
                ("logs, event_type=ticket.created", f"{logs}?event_type=ticket.created"),
                ("a delivery", f"{HOME}/{big}/deliveries/{delivery}"),
            ]
            for label, path in pages:
                times = await timed(lambda p=path: client.get(p), args.requests)
                median = statistics.median(times)
                p95 = statistics.quantiles(times, n=20)[-1]
                verdict = "ok" if p95 < TARGET_MS else "ABOVE 100 ms"
                print(f"[{backend}] {label}: median {median:.1f} ms, p95 {p95:.1f} ms ({verdict})")
    finally:
        await node.aclose()
        if backend == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        await run_backend(backend, args)
    shown = " ".join(f"--{k} {v}" for k, v in vars(args).items() if v != parser.get_default(k))
    print(f"command: python bench/dashboard.py {shown}".rstrip())


if __name__ == "__main__":
    asyncio.run(main())
