"""Scaling out: how much more one PostgreSQL database delivers with two ``cstar worker``
processes than with one.

    .venv/bin/python -m bench.workers
    .venv/bin/python -m bench.workers --events 40000 --rounds 3

A backlog of ``--events`` published events (one endpoint, nginx answering 200) is drained by
one worker, then the same backlog by two, alternating for ``--rounds`` rounds so that this
machine's drift hits both alike. Timed: from releasing the backlog until no delivery is pending
(polled every 100 ms). The workers' start-up is not timed: the webhook is disabled (its
deliveries paused) while they start, and enabling it releases the backlog. Every attempt is
durably logged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import uvloop

from bench.delivery import fresh_database, node_for, receiver
from cstar.server.bootstrap import Container
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.domain.pagination import PageRequest
from cstar.server.services.webhooks import WebhookDraft, WebhookUpdate
from cstar.server.store.contract import DeliveryFilter

CSTAR = str(Path(sys.executable).with_name("cstar"))


def worker_env(
    node: Container, database_url: str, concurrency: int, **extra: str
) -> dict[str, str]:
    """The environment of a ``cstar worker`` on ``node``'s database and master key: this
    process's, without its ``CSTAR_*`` settings, quiet, with ``concurrency`` per endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSTAR_")}
    env.update(
        CSTAR_DATABASE_URL=database_url,
        CSTAR_MASTER_KEY=",".join(node.settings.master_keys),
        CSTAR_ENDPOINT_CONCURRENCY=str(concurrency),
        CSTAR_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


async def start_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        CSTAR,
        "worker",
        "--dev",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        await asyncio.wait_for(process.stdout.readline(), 30)
    except BaseException:  # not started in time, or interrupted: not left running
        process.kill()
        await process.wait()
        raise
    return process


async def pending_left(node: Container, team_id: str) -> bool:
    page = await node.delivery_store.list_deliveries(
        team_id, DeliveryFilter(status=DeliveryStatus.PENDING), PageRequest(limit=1)
    )
    return bool(page.items)


async def drain(node: Container, url: str, events: int, workers: int, env: dict[str, str]) -> float:
    """Publish ``events`` due in the future, start the workers, make them due, time the drain."""
    team = await node.teams.create_team(f"Scale {workers} {time.monotonic_ns()}")
    hook = await node.webhooks.create(team.team.id, WebhookDraft(name="bench", url=url, events="*"))
    data = {"ticket": {"id": "25990cb8", "title": "Cannot log in", "status": "new"}}
    for offset in range(0, events, 64):
        await asyncio.gather(
            *(
                node.events.publish(team.team.id, "ticket.created", data)
                for _ in range(min(64, events - offset))
            )
        )
    # Held (the webhook disabled pauses its deliveries) while the workers start.
    disabled, enabled = WebhookUpdate(is_active=False), WebhookUpdate(is_active=True)
    await node.webhooks.update(team.team.id, hook.webhook.id, disabled)
    processes = [await start_worker(env) for _ in range(workers)]
    try:
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        await node.webhooks.update(team.team.id, hook.webhook.id, enabled)
        while await pending_left(node, team.team.id):
            await asyncio.sleep(0.1)
        return events / (time.perf_counter() - started)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await process.wait()


async def run(args: argparse.Namespace) -> None:
    command = "python -m bench.workers " + " ".join(sys.argv[1:])
    with receiver() as (url, kind):
        print(f"receiver: {kind}")
        workdir = Path(os.environ.get("TMPDIR", "/tmp"))
        database_url, drop = await fresh_database("postgres", workdir)
        node = await node_for(database_url, args.concurrency)
        env = worker_env(node, database_url, args.concurrency)
        one: list[float] = []
        two: list[float] = []
        try:
            for index in range(args.rounds):
                one.append(await drain(node, url, args.events, 1, env))
                two.append(await drain(node, url, args.events, 2, env))
                print(
                    f"round {index + 1}: one worker {one[-1]:,.0f} deliveries/s, "
                    f"two workers {two[-1]:,.0f} deliveries/s ({two[-1] / one[-1]:.2f}x)"
                )
        finally:
            await node.aclose()
            if drop is not None:
                await drop()
        ratio = statistics.median(b / a for a, b in zip(one, two, strict=True))
        print(
            f"[postgres] one worker {statistics.median(one):,.0f}/s, two workers "
            f"{statistics.median(two):,.0f}/s (medians of {args.rounds} rounds of "
            f"{args.events:,}); two deliver {ratio:.2f}x what one does (median of the per-round "
            "ratios)"
        )
    print(f"command: {command}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
