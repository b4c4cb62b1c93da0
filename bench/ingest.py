"""Ingestion: ``POST /events`` against a minimal FastAPI app, with wrk, in one run.

    .venv/bin/python -m bench.ingest                       # SQLite and PostgreSQL, 3 rounds
    .venv/bin/python -m bench.ingest --backend sqlite --rounds 1 --seconds 5

Each round measures, one after the other with the same wrk settings (``--connections`` open,
2 threads): the minimal FastAPI app of ``bench/minimal_app.py`` (uvicorn, one process, the same
event loop and HTTP parser as cStar), ``GET /healthz`` and ``POST /events`` of ``cstar serve
--api-only`` (one process) on a fresh database with no webhook (as in issue 12's table), and
``POST /events`` with one webhook subscribed to every event (each event queues one delivery).
Every answer must be a 2xx: wrk's count of other answers fails the run. The server's rate limit
is raised out of the way. The summary gives medians of the per-round ratios to the minimal app.
Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import uvloop

from bench.api_server import DATA, running_api, wait_until_up
from bench.delivery import free_port

_REQUESTS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors:.*")


def wrk(url: str, args: argparse.Namespace, script: Path | None = None) -> float:
    command = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds:g}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=args.seconds + 60
    ).stdout
    bad = _NON_2XX.search(out)
    errors = _SOCKET_ERRORS.search(out)
    if bad or errors:
        raise RuntimeError(f"wrk saw failures against {url}:\n{out}")
    found = _REQUESTS.search(out)
    if found is None:
        raise RuntimeError(f"no rate in wrk's output:\n{out}")
    return float(found.group(1))


def post_script(workdir: Path, key: str) -> Path:
    body = json.dumps({"type": "ticket.created", "data": DATA})
    script = workdir / "publish.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    )
    return script


async def minimal_app(args: argparse.Namespace) -> float:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "bench.minimal_app:app",
        "--log-level",
        "warning",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_until_up(f"http://127.0.0.1:{port}/")
        return await asyncio.to_thread(wrk, f"http://127.0.0.1:{port}/", args)
    finally:
        process.terminate()
        await process.wait()


async def cstar(backend: str, args: argparse.Namespace) -> dict[str, float]:
    """``GET /healthz``, ``POST /events`` with no webhook, then with one webhook subscribed."""
    rates: dict[str, float] = {}
    for subscribed in (False, True):
        async with running_api(backend, subscribe=subscribed) as api:
            if not subscribed:
                rates["healthz"] = await asyncio.to_thread(wrk, f"{api.base_url}/healthz", args)
            url = f"{api.base_url}/api/v1/teams/{api.team_id}/events"
            script = post_script(api.workdir, api.key)
            name = "subscribed" if subscribed else "events"
            rates[name] = await asyncio.to_thread(wrk, url, args, script)
    return rates


async def main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows: dict[str, list[dict[str, float]]] = {backend: [] for backend in backends}
    for round_ in range(1, args.rounds + 1):
        for backend in backends:
            floor = await minimal_app(args)
            rates = await cstar(backend, args)
            rows[backend].append({"minimal": floor, **rates})
            print(
                f"round {round_} [{backend}] minimal FastAPI {floor:,.0f}/s; cStar GET /healthz "
                f"{rates['healthz']:,.0f}/s, POST /events {rates['events']:,.0f}/s "
                f"({rates['events'] / floor:.0%}), with one webhook {rates['subscribed']:,.0f}/s "
                f"({rates['subscribed'] / floor:.0%})",
                flush=True,
            )
    print()
    for backend, measured in rows.items():

        def median(name: str, measured: list[dict[str, float]] = measured) -> float:
            return statistics.median(row[name] for row in measured)

        def ratio(name: str, measured: list[dict[str, float]] = measured) -> float:
            return statistics.median(row[name] / row["minimal"] for row in measured)

        print(
            f"[{backend}] median of {len(measured)}: minimal FastAPI {median('minimal'):,.0f}/s; "
            f"POST /events {median('events'):,.0f}/s = {ratio('events'):.0%} of it; "
            f"with one webhook {median('subscribed'):,.0f}/s = {ratio('subscribed'):.0%}; "
            f"GET /healthz {median('healthz'):,.0f}/s = {ratio('healthz'):.0%}"
        )
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds:g}s; "
        "command: python -m bench.ingest " + " ".join(sys.argv[1:])
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    uvloop.run(main(parser.parse_args()))
