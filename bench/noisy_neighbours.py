"""Noisy neighbours: what a rate-limited endpoint and a FIFO endpoint with a failing head cost the
other endpoints' throughput (issue 13: less than 10 %).

    .venv/bin/python -m bench.noisy_neighbours                       # SQLite and PostgreSQL
    .venv/bin/python -m bench.noisy_neighbours --backend sqlite --events 4000 --rounds 5

Each round publishes ``--events`` events to a team's ``--endpoints`` ordinary webhooks (nginx, or
a Python receiver, answering 200) and drains them with one dispatcher, timing until every
ordinary delivery has succeeded. Rounds alternate between two set-ups, in one run:

* quiet: the ordinary webhooks alone;
* noisy: the same, plus a webhook limited to ``--rate-limit`` deliveries per second and a FIFO
  webhook whose endpoint refuses connections, both subscribed to every event, so that throughout
  the round one has a backlog waiting for its slots and the other a failing head with every later
  event queued behind it.

The figure is the noisy rounds' ordinary throughput against the quiet rounds' (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.delivery import free_port, fresh_database, node_for, receiver
from cstar.server.bootstrap import Container
from cstar.server.dispatch.sender import Sender, SendResult
from cstar.server.services.webhooks import WebhookDraft


class CountingSender(Sender):
    """The real sender, counting the successful sends to the ordinary endpoints."""

    def __init__(self, inner: Sender, ordinary: set[str]) -> None:
        self.inner = inner
        self.ordinary = ordinary
        self.succeeded = 0

    async def send(
        self, url: str, body: bytes, headers: Any, *, time_limit: float | None = None
    ) -> SendResult:
        result = await self.inner.send(url, body, headers, time_limit=time_limit)
        if result.success and url in self.ordinary:
            self.succeeded += 1
        return result


async def one_round(
    node: Container, base: str, args: argparse.Namespace, *, noisy: bool, index: int
) -> float:
    """Ordinary deliveries per second while draining one backlog."""
    team = await node.teams.create_team(f"Round {index}")
    ordinary = {f"{base}/ordinary-{i}" for i in range(args.endpoints)}
    for url in sorted(ordinary):
        await node.webhooks.create(team.team.id, WebhookDraft(name="ordinary", url=url, events="*"))
    neighbours = []
    if noisy and args.neighbours in ("both", "limited"):
        limited = await node.webhooks.create(
            team.team.id,
            WebhookDraft(
                name="limited", url=f"{base}/limited", events="*", rate_limit=args.rate_limit
            ),
        )
        neighbours.append(limited.webhook.id)
    if noisy and args.neighbours in ("both", "fifo"):
        failing = await node.webhooks.create(
            team.team.id,
            WebhookDraft(
                name="fifo",
                url=f"http://127.0.0.1:{free_port()}/refused",
                events="*",
                ordering="fifo",
            ),
        )
        neighbours.append(failing.webhook.id)
    data = {"ticket": {"id": "25990cb8", "title": "Cannot log in", "status": "new"}}
    for offset in range(0, args.events, 32):
        await asyncio.gather(
            *(
                node.events.publish(team.team.id, "ticket.created", data)
                for _ in range(min(32, args.events - offset))
            )
        )
    counting = CountingSender(node.sender, ordinary)
    dispatcher = node.dispatcher()
    dispatcher._sender = counting  # the benchmark observes the real sender
    expected: int = args.events * args.endpoints
    started = time.perf_counter()
    task = asyncio.create_task(dispatcher.run())
    deadline = started + 300
    while counting.succeeded < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    dispatcher.stop()
    await task
    if counting.succeeded < expected:
        raise SystemExit(f"only {counting.succeeded} of {expected} ordinary deliveries in 300 s")
    for webhook_id in neighbours:  # their backlog must not weigh on the next round
        await node.webhooks.delete(team.team.id, webhook_id)
    return expected / elapsed


async def run(args: argparse.Namespace) -> None:
    command = "python -m bench.noisy_neighbours " + " ".join(sys.argv[1:])
    with receiver() as (url, kind):
        base = url.rsplit("/", 1)[0]
        print(f"receiver: {kind}")
        backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
        for backend in backends:
            workdir = Path(tempfile.mkdtemp(prefix="cstar-bench-db-"))
            database_url, drop = await fresh_database(backend, workdir)
            node = await node_for(database_url, 32)
            quiet: list[float] = []
            noisy: list[float] = []
            try:
                await one_round(node, base, args, noisy=False, index=-1)  # warm-up
                for index in range(args.rounds):
                    for is_noisy, figures in ((False, quiet), (True, noisy)):
                        rate = await one_round(node, base, args, noisy=is_noisy, index=index)
                        figures.append(rate)
                        label = "noisy" if is_noisy else "quiet"
                        print(f"[{backend}] round {index + 1} {label}: {rate:,.0f} deliveries/s")
            finally:
                await node.aclose()
                if drop is not None:
                    await drop()
                shutil.rmtree(workdir, ignore_errors=True)
            q, n = statistics.median(quiet), statistics.median(noisy)
            print(
                f"[{backend}] ordinary endpoints: {q:,.0f} deliveries/s alone, {n:,.0f}/s beside "
                f"a webhook limited to {args.rate_limit}/s and a FIFO webhook with a failing head "
                f"(medians of {args.rounds} rounds of {args.events:,} events x {args.endpoints} "
                f"endpoints): {n / q:.0%} of alone, a drop of {1 - n / q:.1%} (target < 10 %)"
            )
    print(f"command: {command}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-limit", type=int, default=50)
    parser.add_argument(
        "--neighbours",
        choices=["both", "limited", "fifo"],
        default="both",
        help="which neighbours the noisy rounds add (both, as issue 13 asks, by default)",
    )
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
