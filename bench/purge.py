"""Purging old history while delivering at full rate, on SQLite or PostgreSQL.

    .venv/bin/python -m bench.purge                       # 1,000,000 old attempts, SQLite
    .venv/bin/python -m bench.purge --backend postgres    # the same on PostgreSQL
    .venv/bin/python -m bench.purge --attempts 200000     # a quicker look

A database gets ``--attempts`` attempts older than the retention (40 days old; 5 attempts per
delivery, one delivery per event), written straight into the tables. On PostgreSQL every day
from then to today has its partitions, as on a server that has run for 40 days (the old day's
are dropped whole by the purge; its events are deleted row by row). Then, with one receiver
(nginx if installed, else a Python receiver in another process):

1. **baseline**: a backlog of ``--events`` fresh events drained by one dispatcher (every attempt
   durably logged), then ``--rate`` events/s published for ``--seconds`` and the time from the
   publish to the 2xx measured;
2. **during the purge**: the same two measurements while the retention purge
   (``Dispatcher.purge_once``, as the worker runs it) deletes the old history in the same
   process (on SQLite, on the same single writer).

It prints both throughputs and their ratio, both latency p99s, how long the purge took and the
longest time one purge transaction held the writer. Targets (issue 12): throughput drops by less
than 20 %, p99 stays within twice the baseline, the writer is never held for more than 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvloop

from bench.delivery import fresh_database, latency, node_for, pct, receiver, throughput
from cstar.server.bootstrap import Container
from cstar.server.domain.clock import utc_now
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.schema import deliveries, delivery_attempts, events

ATTEMPTS_PER_DELIVERY = 5
#: Rows per insert statement while seeding.
SEED_BATCH = 20_000
PAYLOAD = '{"type":"ticket.created","data":{"ticket":{"id":"t-1","title":"Old"}}}'


async def seed(node: Container, url: str, attempts: int) -> int:
    """``attempts`` attempts of finished deliveries 40 days old; the events written."""
    team = await node.teams.create_team("History")
    hook = await node.webhooks.create(team.team.id, WebhookDraft(name="old", url=url, events="*"))
    old = utc_now() - timedelta(days=40)
    count = attempts // ATTEMPTS_PER_DELIVERY
    pg = node.database.dialect == "postgresql"
    if pg:  # each call makes three days
        for back in range(0, 42, 3):
            await node.delivery_store.add_partitions((old + timedelta(days=back)).date())
    headers = {"Content-Type": "application/json", "X-Event-Type": "ticket.created"}

    def write(conn: Any, start: int, stop: int) -> None:
        conn.execute(
            events.insert(),
            [
                {
                    "id": f"evt_old_{n:09d}",
                    "team_id": team.team.id,
                    "type": "ticket.created",
                    "payload": PAYLOAD,
                    "request_id": None,
                    "is_test": False,
                    "created_at": old,
                    **({} if pg else {"seq": n + 1}),
                }
                for n in range(start, stop)
            ],
        )
        conn.execute(
            deliveries.insert(),
            [
                {
                    "id": f"dlv_old_{n:09d}",
                    "team_id": team.team.id,
                    "event_id": f"evt_old_{n:09d}",
                    "webhook_id": hook.webhook.id,
                    "event_type": "ticket.created",
                    "status": "succeeded",
                    "attempts": ATTEMPTS_PER_DELIVERY,
                    "retry_index": ATTEMPTS_PER_DELIVERY,
                    "next_attempt_at": None,
                    "lease_until": None,
                    "leased_by": None,
                    "last_status_code": 200,
                    "last_error": None,
                    "created_at": old,
                    "updated_at": old,
                    "completed_at": old,
                }
                for n in range(start, stop)
            ],
        )
        conn.execute(
            delivery_attempts.insert(),
            [
                {
                    "delivery_id": f"dlv_old_{n:09d}",
                    "webhook_id": hook.webhook.id,
                    "attempt": a + 1,
                    "started_at": old,
                    "duration_ms": 3,
                    "status_code": 500 if a + 1 < ATTEMPTS_PER_DELIVERY else 200,
                    "success": a + 1 == ATTEMPTS_PER_DELIVERY,
                    "error": None,
                    "url": url,
                    "request_headers": headers,
                    "response_body": "ok",
                }
                for n in range(start, stop)
                for a in range(ATTEMPTS_PER_DELIVERY)
            ],
        )

    per_batch = SEED_BATCH // ATTEMPTS_PER_DELIVERY
    for start in range(0, count, per_batch):
        stop = min(count, start + per_batch)
        await node.database.write(lambda conn, a=start, b=stop: write(conn, a, b))
    return count


async def old_attempts(node: Container) -> int:
    statement = (
        sa.select(sa.func.count())
        .select_from(delivery_attempts)
        .where(delivery_attempts.c.started_at < utc_now() - timedelta(days=30))
    )
    return int(await node.database.read(lambda conn: conn.scalar(statement)))


async def measure(
    node: Container, url: str, args: argparse.Namespace, name: str
) -> dict[str, float]:
    rate, _ = await throughput(node, url, args.events, name=name)
    lat = await latency(node, url, rate=args.rate, seconds=args.seconds)
    return {"rate": rate, "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat)}


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir, receiver() as (url, kind):
        database_url, drop_database = await fresh_database(args.backend, Path(workdir))
        node = await node_for(database_url, 64)
        try:
            t0 = time.perf_counter()
            seeded = await seed(node, url, args.attempts)
            print(
                f"seeded {seeded:,} old events, {seeded * ATTEMPTS_PER_DELIVERY:,} attempts "
                f"in {time.perf_counter() - t0:.1f}s; receiver: {kind}",
                flush=True,
            )
            base = await measure(node, url, args, "Baseline")
            before = await old_attempts(node)
            purging = asyncio.create_task(node.dispatcher().purge_once())
            purge_started = time.perf_counter()
            during = await measure(node, url, args, "During")
            overlapped = not purging.done()
            await purging
            purge_seconds = time.perf_counter() - purge_started
            after = await old_attempts(node)
        finally:
            await node.aclose()
            if drop_database is not None:
                await drop_database()
    store = node.delivery_store
    longest = store.purge_longest_hold * 1000
    backend = "SQLite" if args.backend == "sqlite" else "PostgreSQL"
    print(f"\nbench/purge.py ({backend}), {args.events:,} events per drain, {args.rate}/s latency")
    print(f"{'':<22}{'baseline':>12}{'during purge':>14}")
    print(f"{'deliveries/s':<22}{base['rate']:>12,.0f}{during['rate']:>14,.0f}")
    for key in ("p50", "p99", "max"):
        print(f"{'latency ' + key + ' (ms)':<22}{base[key]:>12.1f}{during[key]:>14.1f}")
    drop = 1 - during["rate"] / base["rate"]
    print(
        f"\nthroughput drop: {drop:.0%} (target < 20%); p99 ratio: "
        f"{during['p99'] / base['p99']:.2f}x (target <= 2x)"
    )
    print(
        f"purge: {before - after:,} attempts deleted in {purge_seconds:.1f}s "
        f"(still running when the measurement ended: {overlapped}); longest row-by-row purge "
        f"transaction: {longest:.1f} ms (target on SQLite <= 50 ms)"
    )
    print(f"command: {' '.join([Path(sys.executable).name, '-m', 'bench.purge', *sys.argv[1:]])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000, help="fresh events per drain")
    parser.add_argument("--rate", type=int, default=200, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
