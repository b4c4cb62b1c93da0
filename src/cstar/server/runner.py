"""Run the server process: open the container, announce it, serve HTTP until a signal."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

import uvicorn
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url

from cstar import __version__
from cstar.server.api.access_log import RedactingAccessFilter
from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings, redact_proxy, sqlite_path
from cstar.server.http.listener import QuietServer, bind_listener
from cstar.server.http.options import server_options
from cstar.server.observability.server import open_metrics_port

log = logging.getLogger("cstar")


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr: one line per record, or with ``log_format="json"`` (``CSTAR_LOG_FORMAT``)
    one JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
    and ``exc_info`` when there is a traceback."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # Keys and secrets a client put in a URL never reach the access log (as in the request log).
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactingAccessFilter) for f in access.filters):
        access.addFilter(RedactingAccessFilter())


class _CancelledAtShutdown(logging.Filter):
    """uvicorn logs a request it cancels when the graceful shutdown runs out of time (a client
    that never finishes sending its body) as "Exception in ASGI application" with a traceback;
    its own "Cancel N running task(s)" line already says what happened."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


def quiet_cancellations() -> None:
    logging.getLogger("uvicorn.error").addFilter(_CancelledAtShutdown())


def describe_database(url: str) -> str:
    path = sqlite_path(url)
    if path is not None:
        return f"SQLite file {path}"
    try:
        return "PostgreSQL " + make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the engine itself
        return "PostgreSQL"


def announce(
    container: Container, out: TextIO, *, dispatch: bool = True, processes: int = 1
) -> None:
    settings = container.settings
    print(f"cStar Webhooks {__version__}", file=out)
    print(f"  database:   {describe_database(settings.database_url)}", file=out)
    if processes > 1:
        each = "the API" + (" and a dispatcher" if dispatch else "")
        print(f"  processes:  {processes} on one port, each serving {each}", file=out)
    if not dispatch:
        print(
            "  API only:   no dispatcher in this process; run `cstar worker` to deliver",
            file=out,
        )
    if not settings.master_keys:
        print(f"  master key: {settings.resolved_master_key_file()}", file=out)
    print(banner_extras(settings), end="", file=out)
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


def banner_extras(settings: Settings) -> str:
    """The banner's lines for what is configured only sometimes: where deliveries leave (the
    egress proxy) and where ``/metrics`` is served; nothing when neither is."""
    lines = ""
    if settings.egress_proxy is not None:
        lines += f"  egress:     every delivery through {redact_proxy(settings.egress_proxy)}\n"
    if settings.metrics_token is not None:
        lines += "  metrics:    /metrics on this port, with the bearer token CSTAR_METRICS_TOKEN\n"
    if settings.metrics_port is not None:
        shown = _shown_host(settings.metrics_host)
        lines += f"  metrics:    http://{shown}:{settings.metrics_port}/metrics\n"
    return lines


class Shutdown:
    """First SIGINT/SIGTERM: stop gracefully. A second one: stop now."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.server: uvicorn.Server | None = None
        #: Run on the first signal, before the server waits for open connections to finish.
        self.on_stop: Callable[[], None] | None = None

    def install(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        loop = asyncio.get_running_loop()
        for sig in signals:
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


class ProcessFailed(Exception):
    """The process must stop with a non-zero exit code (so a supervisor restarts it)."""


#: After SIGTERM, how long open HTTP requests may take beyond the delivery timeout (the longest
#: request, ``/test``, sends one delivery).
HTTP_STOP_GRACE = 1.0


def _failure(task: asyncio.Task[None]) -> str:
    """Why a task that should run until stopped has ended."""
    if task.cancelled():
        return "it was cancelled"
    exc = task.exception()
    if exc is None:
        return "it returned"
    return f"{type(exc).__name__}: {exc}"


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    dispatch: bool = True,
    out: TextIO = sys.stdout,
) -> None:
    """The API (with the dashboard) and the dispatcher, in one process; with ``dispatch=False``
    (``cstar serve --api-only``) the API alone, for replicas beside ``cstar worker`` processes.

    SIGTERM (or Ctrl-C) stops both at once: HTTP requests get ``delivery_timeout`` plus a second
    to finish, the dispatcher finishes and records what it has in flight and gives back the
    rest. A dispatcher that dies stops the whole process with an error (``/healthz`` answers 503
    meanwhile): a server that accepts events nobody delivers must not look healthy.
    """
    shutdown = Shutdown()
    shutdown.install()
    listener = bind_listener(host, port)
    quiet_cancellations()
    try:
        container = await open_container(settings)
    except BaseException:
        listener.close()
        raise
    try:
        announce(container, out, dispatch=dispatch)
    except BaseException:
        shutdown.requested.set()
        raise
    finally:
        if shutdown.requested.is_set():
            listener.close()
            await container.aclose()
    if shutdown.requested.is_set():
        return

    def listening() -> None:
        print(listening_line(host, listener.getsockname()[1]), file=out)
        out.flush()

    await serve_on(listener, container, shutdown, dispatch=dispatch, on_listening=listening)


def _shown_host(host: str) -> str:
    """``host`` as it goes in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def listening_line(host: str, port: int) -> str:
    shown = _shown_host(host)
    return f"Listening on http://{shown}:{port}  (API docs: http://{shown}:{port}/docs)"


async def serve_on(
    listener: socket.socket,
    container: Container,
    shutdown: Shutdown,
    *,
    dispatch: bool,
    on_listening: Callable[[], None],
    metrics_port: bool = True,
) -> None:
    """Serve HTTP on ``listener`` (and dispatch) until ``shutdown``; closes both at the end.
    ``metrics_port``: whether this process serves ``CSTAR_METRICS_PORT`` when it is set."""
    settings = container.settings
    dispatcher = container.dispatcher() if dispatch else None
    dispatching: asyncio.Task[None] | None = None
    try:
        async with open_metrics_port(settings, container.metrics, enabled=metrics_port):
            if dispatcher is not None:
                dispatching = asyncio.create_task(dispatcher.run(), name="cstar-dispatcher")
            app = create_app(settings, container=container)
            config = uvicorn.Config(
                app,
                log_config=None,
                access_log=True,
                lifespan="on",
                server_header=False,
                timeout_graceful_shutdown=math.ceil(settings.delivery_timeout + HTTP_STOP_GRACE),
                **server_options(settings),
            )
            server = QuietServer(config)
            shutdown.server = server

            def stop_work() -> None:
                # Realtime streams never end by themselves: end them so connections can drain.
                container.streams.end_streams()
                if dispatcher is not None:
                    dispatcher.stop()

            shutdown.on_stop = stop_work
            serving = asyncio.create_task(server.serve(sockets=[listener]), name="cstar-http")
            # uvicorn exposes only a flag for "listening"; poll it briefly during startup.
            while not server.started and not serving.done():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            if server.started:
                on_listening()
            watched = {serving} if dispatching is None else {serving, dispatching}
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            failed: str | None = None
            if dispatching is not None and dispatching.done() and not shutdown.requested.is_set():
                failed = f"the dispatcher stopped unexpectedly ({_failure(dispatching)})"
                log.error(
                    "%s; stopping the server so that it can be restarted",
                    failed,
                    exc_info=None if dispatching.cancelled() else dispatching.exception(),
                )
                container.health.fail(failed)
                container.streams.end_streams()
                server.should_exit = True
            await serving
            if failed is not None:
                raise ProcessFailed(failed)
    finally:
        listener.close()
        if dispatcher is not None and dispatching is not None:
            dispatcher.stop()
            await asyncio.wait({dispatching})
        await container.aclose()


async def work(settings: Settings, *, out: TextIO = sys.stdout) -> None:
    """The dispatcher alone (``cstar worker``): run as many as needed, on any number of hosts."""
    shutdown = Shutdown()
    shutdown.install()
    container = await open_container(settings, bootstrap=False)
    try:
        async with open_metrics_port(settings, container.metrics):
            dispatcher = container.dispatcher()
            print(
                f"cStar Webhooks {__version__} worker {dispatcher.worker_id}\n"
                f"  database:   {describe_database(settings.database_url)}\n"
                f"{banner_extras(settings)}"
                "Dispatching deliveries (Ctrl-C or SIGTERM to stop)",
                file=out,
            )
            out.flush()
            running = asyncio.create_task(dispatcher.run(), name="cstar-dispatcher")
            stop = asyncio.create_task(shutdown.requested.wait())
            await asyncio.wait({running, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if running.done() and not shutdown.requested.is_set():
                failed = f"the dispatcher stopped unexpectedly ({_failure(running)})"
                log.error(
                    "%s; exiting so that it can be restarted",
                    failed,
                    exc_info=None if running.cancelled() else running.exception(),
                )
                raise ProcessFailed(failed)
            dispatcher.stop()
            await running
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
