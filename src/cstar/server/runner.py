"""Run the server process: open the container, announce it, serve HTTP until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import uvicorn
from sqlalchemy.engine import make_url

from cstar import __version__
from cstar.server.api.access_log import RedactingAccessFilter
from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings, sqlite_path

log = logging.getLogger("cstar")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Keys and secrets a client put in a URL never reach the access log (as in the request log).
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactingAccessFilter) for f in access.filters):
        access.addFilter(RedactingAccessFilter())


def describe_database(url: str) -> str:
    path = sqlite_path(url)
    if path is not None:
        return f"SQLite file {path}"
    try:
        return "PostgreSQL " + make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the engine itself
        return "PostgreSQL"


def announce(container: Container, out: TextIO) -> None:
    settings = container.settings
    print(f"cStar Webhooks {__version__}", file=out)
    print(f"  database:   {describe_database(settings.database_url)}", file=out)
    if not settings.master_keys:
        print(f"  master key: {settings.resolved_master_key_file()}", file=out)
    if settings.dev:
        print(
            "  DEV MODE: http:// URLs and loopback/private delivery targets are ALLOWED.\n"
            "  Never run --dev on a server that the internet or untrusted users can reach.",
            file=out,
        )
    created = container.bootstrap_team
    if created is not None:
        print(
            f'\nFirst start: created team "{created.team.name}". '
            "Save these keys now: they are shown only once.\n"
            f"  Team id:         {created.team.id}\n"
            f"  Secret key:      {created.secret_key}\n"
            f"  Publishable key: {created.publishable_key}\n",
            file=out,
        )
    out.flush()


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal capture: the runner owns SIGINT and SIGTERM, so
    that shutdown finishes our cleanup and exits 0 instead of re-raising the signal."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Shutdown:
    """First SIGINT/SIGTERM: stop gracefully. A second one: stop now."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.server: uvicorn.Server | None = None
        #: Run on the first signal, before the server waits for open connections to finish.
        self.on_stop: Callable[[], None] | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.trigger, sig)

    def trigger(self, sig: int) -> None:
        if self.requested.is_set() and self.server is not None:
            self.server.force_exit = True
        log.info("received %s, shutting down", signal.Signals(sig).name)
        self.requested.set()
        if self.on_stop is not None:
            self.on_stop()
        if self.server is not None:
            self.server.should_exit = True


async def serve(settings: Settings, *, host: str, port: int, out: TextIO = sys.stdout) -> None:
    """The API and the dispatcher, in one process."""
    shutdown = Shutdown()
    shutdown.install()
    container = await open_container(settings)
    dispatcher = container.dispatcher()
    dispatching: asyncio.Task[None] | None = None
    try:
        announce(container, out)
        if shutdown.requested.is_set():
            return
        dispatching = asyncio.create_task(dispatcher.run(), name="cstar-dispatcher")
        app = create_app(settings, container=container)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=True,
            lifespan="on",
            server_header=False,
        )
        server = _Server(config)
        shutdown.server = server
        # Realtime streams never end by themselves: end them so connections can drain.
        shutdown.on_stop = container.streams.end_streams
        task = asyncio.create_task(server.serve())
        # uvicorn exposes only a flag for "listening"; poll it briefly during startup.
        while not server.started and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
            shown = f"[{host}]" if ":" in host else host
            print(
                f"Listening on http://{shown}:{bound}  (API docs: http://{shown}:{bound}/docs)",
                file=out,
            )
            out.flush()
        await task
    finally:
        if dispatching is not None:
            dispatcher.stop()
            await dispatching
        await container.aclose()


async def work(settings: Settings, *, out: TextIO = sys.stdout) -> None:
    """The dispatcher alone (``cstar worker``): run as many as needed, on any number of hosts."""
    shutdown = Shutdown()
    shutdown.install()
    container = await open_container(settings, bootstrap=False)
    try:
        dispatcher = container.dispatcher()
        print(
            f"cStar Webhooks {__version__} worker {dispatcher.worker_id}\n"
            f"  database:   {describe_database(settings.database_url)}\n"
            "Dispatching deliveries (Ctrl-C or SIGTERM to stop)",
            file=out,
        )
        out.flush()
        running = asyncio.create_task(dispatcher.run(), name="cstar-dispatcher")
        stop = asyncio.create_task(shutdown.requested.wait())
        await asyncio.wait({running, stop}, return_when=asyncio.FIRST_COMPLETED)
        dispatcher.stop()
        await running
        stop.cancel()
        log.info("worker stopped after %d attempts", dispatcher.recorded)
    finally:
        await container.aclose()


def run_async(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run on uvloop when it is installed (it is, with the ``server`` extra)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(main())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
