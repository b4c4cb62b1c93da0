"""``cstar serve --workers N``: N API processes on one port, sharing one PostgreSQL database.

The parent binds the port, migrates and creates the first team (once), announces, then starts
N processes (the spawn method: nothing of the parent's event loop or connections is inherited).
Each serves HTTP on the inherited listening socket, the kernel handing each connection to one of
them, and runs a dispatcher unless ``--api-only``. The parent only supervises:

* SIGINT or SIGTERM is passed on as SIGTERM, so each process stops as ``cstar serve`` does
  (a second signal is passed on too, and stops them at once). The processes ignore SIGINT: a
  Ctrl-C in a terminal reaches the whole process group, and counting it twice would be a
  second signal.
* A process that ends by itself stops the others, and the command exits non-zero, so that a
  supervisor restarts the whole server (as a dead dispatcher does to ``cstar serve``).

SQLite is refused: it has one writer, and several processes writing to one file would take
turns on its lock instead of adding throughput.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from multiprocessing.connection import wait
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from types import FrameType
from typing import TextIO

from cstar.server.bootstrap import StartupError, open_container
from cstar.server.config import Settings, sqlite_path
from cstar.server.http.listener import bind_listener
from cstar.server.observability.metrics import MULTIPROC_ENV
from cstar.server.runner import (
    ProcessFailed,
    Shutdown,
    announce,
    configure_logging,
    listening_line,
    quiet_cancellations,
    run_async,
    serve_on,
)

log = logging.getLogger("cstar")

#: How often the supervisor looks at its processes while none has ended (seconds).
_POLL = 0.2


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``--workers`` cannot run on this database, or ``None``."""
    if workers > 1 and sqlite_path(settings.database_url) is not None:
        return (
            "--workers needs PostgreSQL (set CSTAR_DATABASE_URL): SQLite has a single writer, "
            "so its server runs as one process"
        )
    return None


def serve_replicas(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    dispatch: bool = True,
    out: TextIO = sys.stdout,
) -> None:
    """Run ``workers`` API processes on ``host``:``port`` until a signal (see the module)."""
    reason = refusal(settings, workers)
    if reason is not None:
        raise StartupError(reason)
    listener = bind_listener(host, port)
    counts = tempfile.mkdtemp(prefix="cstar-metrics-")
    try:
        run_async(lambda: _prepare(settings, out, dispatch=dispatch, workers=workers))
        # The processes add up each other's metrics from here (read as they start).
        os.environ[MULTIPROC_ENV] = counts
        _supervise(settings, listener, host, workers=workers, dispatch=dispatch, out=out)
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(counts, ignore_errors=True)
        listener.close()


async def _prepare(settings: Settings, out: TextIO, *, dispatch: bool, workers: int) -> None:
    """Migrate, create the first team, and say so: once, before any process starts."""
    container = await open_container(settings)
    try:
        announce(container, out, dispatch=dispatch, processes=workers)
    finally:
        await container.aclose()


class _Supervisor:
    def __init__(self, processes: list[SpawnProcess]) -> None:
        self.processes = processes
        self.stopping = False
        self.failure: str | None = None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping %d processes", signal.Signals(signum).name, len(self))
        self.stopping = True
        self.terminate()

    def __len__(self) -> int:
        return sum(p.pid is not None and p.exitcode is None for p in self.processes)

    def terminate(self) -> None:
        for process in self.processes:
            if process.exitcode is None and process.pid is not None:
                process.terminate()

    def check(self) -> None:
        """After a process ended: unless the server is stopping, stop the rest, as a failure."""
        if self.stopping:
            return
        for number, process in enumerate(self.processes, start=1):
            if process.exitcode is not None:
                self.failure = (
                    f"API process {number} (pid {process.pid}) exited unexpectedly "
                    f"with code {process.exitcode}"
                )
                log.error(
                    "%s; stopping the others so that the server can be restarted", self.failure
                )
                self.stopping = True
                self.terminate()
                return


def _supervise(
    settings: Settings,
    listener: socket.socket,
    host: str,
    *,
    workers: int,
    dispatch: bool,
    out: TextIO,
) -> None:
    context = multiprocessing.get_context("spawn")
    ready = [context.Event() for _ in range(workers)]
    processes = [
        context.Process(
            target=run_replica,
            args=(settings, listener, dispatch, ready[number], number == 0),
            name=f"cstar-api-{number + 1}",
        )
        for number in range(workers)
    ]
    supervisor = _Supervisor(processes)
    previous = {
        sig: signal.signal(sig, supervisor.on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        for process in processes:
            if not supervisor.stopping:
                process.start()
        announced = False
        while len(supervisor):
            started = [p for p in processes if p.exitcode is None and p.pid is not None]
            wait([p.sentinel for p in started], timeout=_POLL)
            if not announced and all(event.is_set() for event in ready):
                announced = True
                print(listening_line(host, listener.getsockname()[1]), file=out)
                out.flush()
            if len(supervisor) < sum(p.pid is not None for p in processes):
                supervisor.check()
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if supervisor.failure is not None:
        raise ProcessFailed(supervisor.failure)


def run_replica(
    settings: Settings, listener: socket.socket, dispatch: bool, ready: Event, first: bool
) -> None:
    """One API process: its own event loop, container and (unless API only) dispatcher; the
    first also serves ``CSTAR_METRICS_PORT`` (every process's counts, added up)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_async(lambda: _replica(settings, listener, dispatch, ready, first))
    except (StartupError, ProcessFailed) as exc:
        log.error("%s", exc)
        sys.exit(1)


async def _replica(
    settings: Settings, listener: socket.socket, dispatch: bool, ready: Event, first: bool
) -> None:
    shutdown = Shutdown()
    shutdown.install((signal.SIGTERM,))
    quiet_cancellations()
    container = await open_container(settings, bootstrap=False)
    if shutdown.requested.is_set():
        listener.close()
        await container.aclose()
        return
    await serve_on(
        listener,
        container,
        shutdown,
        dispatch=dispatch,
        on_listening=ready.set,
        metrics_port=first,
    )
