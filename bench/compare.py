"""Side by side: the same backlog delivered by cStar and by what Python teams write by hand, a
Celery task posting with ``requests`` (``bench/compare_celery.py``).

    .venv/bin/python -m bench.compare                          # SQLite, 20,000 events, 1 round
    .venv/bin/python -m bench.compare --backend postgres --events 5000 --rounds 3

One receiver (nginx answering 200 if installed, else a Python receiver in another process),
started once and used by both sides. Each round runs both, in alternating order:

- cStar: ``--events`` events published to one subscribed endpoint and held (its webhook
  disabled) while one ``cstar worker`` process starts; timed from enabling the webhook until the
  database counts ``--events`` succeeded deliveries (its hourly statistics, written in the same
  transactions as the attempts; polled every 20 ms). Every attempt is durably logged (SQLite
  synchronous=FULL; PostgreSQL fsync on commit).
- Celery: ``--events`` tasks enqueued (Redis database ``--redis-db``, flushed before and after),
  a ``celery worker`` (prefork, ``--celery-concurrency`` processes) started on another, empty
  queue; once it answers a ping it is told to consume the backlog's queue (``add_consumer``),
  timed from then until a Redis counter, incremented by the task after each 2xx, reaches
  ``--events`` (polled every 20 ms). Nothing is recorded about any attempt.

Neither side's start-up is timed. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import celery
import redis
import uvloop

from bench.compare_celery import DELIVERED, QUEUE, app, deliver
from bench.delivery import fresh_database, node_for, receiver
from bench.workers import start_worker, worker_env
from cstar.server.bootstrap import Container
from cstar.server.domain.clock import utc_now
from cstar.server.domain.deliveries import envelope
from cstar.server.services.webhooks import WebhookDraft, WebhookUpdate

ROOT = Path(__file__).resolve().parents[1]
#: The empty queue the Celery worker starts on, so that its start-up is not timed.
IDLE_QUEUE = "compare.idle"
POLL = 0.02
#: What the Celery task signs with (a secret of cStar's format; the receiver checks nothing).
SECRET = "whsec_" + "b" * 40
#: The event both sides deliver; ``dashboard_url`` given so that cStar sends it as it is.
DATA = {
    "ticket": {
        "id": "25990cb8-cbbf-4671-a973-672cde1cf42d",
        "title": "Cannot log in",
        "status": "new",
        "priority": "high",
        "customer_id": "cd17b730-387d-424e-a50b-eb4a44e543af",
        "customer_name": "Jane Doe",
        "created_at": "2026-03-06T14:30:00Z",
        "dashboard_url": "https://www.cstar.help/team/my-team/tickets?selected=25990cb8",
    },
    "customer": {
        "id": "cd17b730-387d-424e-a50b-eb4a44e543af",
        "name": "Jane Doe",
        "email": "jane@example.com",
    },
}


# -- cStar --------------------------------------------------------------------------------------


async def succeeded(node: Container, team_id: str, webhook_id: str) -> int:
    """Deliveries of the webhook that succeeded, as the database counts them."""
    since = utc_now() - timedelta(hours=2)
    rows = await node.delivery_store.hourly_stats(team_id, [webhook_id], since=since)
    return sum(row.succeeded for row in rows)


async def cstar_drain(
    node: Container, url: str, events: int, env: dict[str, str], *, limit: float
) -> float:
    """Publish ``events`` events held behind a disabled webhook, start one ``cstar worker``,
    enable the webhook and time until all are delivered: deliveries/s."""
    team = await node.teams.create_team(f"Compare {time.monotonic_ns()}")
    hook = await node.webhooks.create(
        team.team.id, WebhookDraft(name="compare", url=url, events="*")
    )
    for offset in range(0, events, 64):
        await asyncio.gather(
            *(
                node.events.publish(team.team.id, "ticket.created", DATA)
                for _ in range(min(64, events - offset))
            )
        )
    ids = team.team.id, hook.webhook.id
    await node.webhooks.update(*ids, WebhookUpdate(is_active=False))
    process = await start_worker(env)
    try:
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        await node.webhooks.update(*ids, WebhookUpdate(is_active=True))
        while (done := await succeeded(node, *ids)) < events:
            if process.returncode is not None:
                raise RuntimeError(f"cstar worker exited ({process.returncode}) after {done}")
            if time.perf_counter() - started > limit:
                raise RuntimeError(f"cStar: {done} of {events} delivered after {limit:.0f} s")
            await asyncio.sleep(POLL)
        return events / (time.perf_counter() - started)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


# -- Celery -------------------------------------------------------------------------------------


def celery_bodies(events: int) -> list[str]:
    """Envelopes like cStar's (``{id, type, created_at, team_id, data}``), one per event."""
    now = utc_now()
    return [
        json.dumps(
            envelope(
                event_id=f"evt_{uuid.uuid4().hex}",
                event_type="ticket.created",
                created_at=now,
                team_id="550e8400-e29b-41d4-a716-446655440000",
                data=DATA,
            ),
            separators=(",", ":"),
        )
        for _ in range(events)
    ]


def start_celery(broker: str, concurrency: int, name: str, log: Path) -> subprocess.Popen[bytes]:
    """A real ``celery worker``, prefork, consuming only the empty ``IDLE_QUEUE`` for now; in its
    own process group so that its pool goes with it."""
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "bench.compare_celery",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--queues",
                IDLE_QUEUE,
                "--hostname",
                name,
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=os.environ | {"COMPARE_REDIS_URL": broker},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )


def stop_celery(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL to its process group after 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def log_tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-20:])


async def celery_drain(
    url: str,
    secret: str,
    events: int,
    *,
    broker: str,
    concurrency: int,
    limit: float,
    workdir: Path,
) -> float:
    """Enqueue ``events`` tasks, start a worker, let it consume them: deliveries/s."""
    counter = redis.Redis.from_url(broker)
    counter.flushdb()
    bodies = celery_bodies(events)
    with app.producer_or_acquire() as producer:
        for offset in range(0, events, 500):
            for body in bodies[offset : offset + 500]:
                deliver.apply_async((url, secret, body), producer=producer)
            await asyncio.sleep(0)  # Ctrl-C
    queued = counter.llen(QUEUE)
    if queued != events:
        raise RuntimeError(f"Celery: {queued} tasks in the queue, {events} enqueued")
    name = f"compare{os.getpid()}@127.0.0.1"
    log = workdir / "celery-worker.log"
    process = start_celery(broker, concurrency, name, log)
    try:
        for _ in range(60):  # 30 s at most
            if process.poll() is not None:
                raise RuntimeError(f"celery worker exited ({process.returncode}):\n{log_tail(log)}")
            if app.control.ping(destination=[name], timeout=0.5):
                break
            await asyncio.sleep(0)
        else:
            raise RuntimeError(f"celery worker did not answer a ping:\n{log_tail(log)}")
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        reply = app.control.add_consumer(QUEUE, destination=[name], reply=True, timeout=5)
        if not reply or "ok" not in next(iter(reply[0].values()), {}):
            raise RuntimeError(f"celery worker did not add the queue: {reply!r}")
        while (done := int(counter.get(DELIVERED) or 0)) < events:
            if process.poll() is not None:
                raise RuntimeError(
                    f"celery worker exited ({process.returncode}) after {done}:\n{log_tail(log)}"
                )
            if time.perf_counter() - started > limit:
                raise RuntimeError(f"Celery: {done} of {events} delivered after {limit:.0f} s")
            await asyncio.sleep(POLL)
        return events / (time.perf_counter() - started)
    finally:
        stop_celery(process)
        counter.flushdb()
        counter.close()


# -- both ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    command = "python -m bench.compare " + " ".join(sys.argv[1:])
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    broker = f"redis://127.0.0.1:6379/{args.redis_db}"
    app.conf.broker_url = broker
    redis.Redis.from_url(broker).ping()
    workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-compare-"))
    with receiver() as (url, kind):
        print(f"receiver: {kind}, the same process for both")
        print(
            f"cStar: one `cstar worker` process (CSTAR_ENDPOINT_CONCURRENCY={args.concurrency}), "
            f"every attempt durably logged in {args.backend}; done when the database counts "
            f"{args.events:,} succeeded deliveries"
        )
        print(
            f"Celery {celery.__version__}: a prefork worker, concurrency "
            f"{args.celery_concurrency}, broker {broker}, acks_late, reject_on_worker_lost, "
            f"prefetch multiplier {app.conf.worker_prefetch_multiplier} (default), no result "
            "backend, requests.post with a Session per process; no attempt logging at all; done "
            f"when a Redis counter incremented after each 2xx reaches {args.events:,}"
        )
        database_url, drop = await fresh_database(args.backend, workdir)
        node = await node_for(database_url, args.concurrency)
        env = worker_env(node, database_url, args.concurrency)
        rounds: list[tuple[float, float]] = []
        try:
            for index in range(args.rounds):
                celery_first = index % 2 == 1
                for side in ("celery", "cstar") if celery_first else ("cstar", "celery"):
                    if side == "cstar":
                        ours = await cstar_drain(node, url, args.events, env, limit=args.timeout)
                    else:
                        theirs = await celery_drain(
                            url,
                            SECRET,
                            args.events,
                            broker=broker,
                            concurrency=args.celery_concurrency,
                            limit=args.timeout,
                            workdir=workdir,
                        )
                rounds.append((ours, theirs))
                print(
                    f"[{args.backend}] round {index + 1}"
                    f" ({'Celery' if celery_first else 'cStar'} first): cStar {ours:,.0f} "
                    f"deliveries/s, Celery {theirs:,.0f} deliveries/s: {ours / theirs:.1f}x"
                )
        finally:
            await node.aclose()
            if drop is not None:
                await drop()
            shutil.rmtree(workdir, ignore_errors=True)
    ours = statistics.median(r[0] for r in rounds)
    theirs = statistics.median(r[1] for r in rounds)
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    print(
        f"[{args.backend}] cStar {ours:,.0f} deliveries/s, every attempt durably logged; Celery "
        f"{theirs:,.0f} deliveries/s, no attempt logged (medians of {len(rounds)} round(s) of "
        f"{args.events:,}); cStar/Celery {ratio:.1f}x (median of the per-round ratios); "
        f"target 10x: {'met' if ratio >= 10 else 'not met'}"
    )
    print(f"command: {command}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--concurrency", type=int, default=64, help="cStar: CSTAR_ENDPOINT_CONCURRENCY"
    )
    parser.add_argument(
        "--celery-concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs, Celery's own default)",
    )
    parser.add_argument("--redis-db", type=int, default=9, help="on 127.0.0.1:6379, flushed")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per drain, at most")
    args = parser.parse_args()
    if args.events < 1 or args.rounds < 1 or args.celery_concurrency < 1:
        parser.error("--events, --rounds and --celery-concurrency must be at least 1")
    if not 0 <= args.redis_db <= 15:
        parser.error("--redis-db must be between 0 and 15")
    try:
        uvloop.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, SIGTERM: cleaned up by now
        sys.exit("interrupted")


if __name__ == "__main__":
    main()
