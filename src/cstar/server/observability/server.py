"""``CSTAR_METRICS_PORT``: ``/metrics`` on a port of its own, without a token.

For a port that only the monitoring network reaches (it listens on ``CSTAR_METRICS_HOST``,
127.0.0.1 by default), and for ``cstar worker``, which has no API port. Everything but
``GET /metrics`` is a 404; the same guarded HTTP protocol as the API's port (header and body
timeouts, a connection cap) serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from cstar.server.config import Settings
from cstar.server.http.listener import QuietServer, bind_listener
from cstar.server.http.options import server_options
from cstar.server.observability.metrics import CONTENT_TYPE, Metrics
from cstar.server.store.contract import StoreError


class MetricsApp:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response: Response
        if scope.get("path") != "/metrics":
            response = PlainTextResponse("Not found: this port serves GET /metrics\n", 404)
        elif scope.get("method") not in ("GET", "HEAD"):
            response = PlainTextResponse("Method not allowed\n", 405, headers={"Allow": "GET"})
        else:
            try:
                response = Response(await self.metrics.render(), media_type=CONTENT_TYPE)
            except StoreError:
                response = PlainTextResponse(
                    "The database is unavailable\n", 503, headers={"Retry-After": "5"}
                )
        await response(scope, receive, send)


@contextlib.asynccontextmanager
async def open_metrics_port(
    settings: Settings, metrics: Metrics, *, enabled: bool = True
) -> AsyncIterator[int | None]:
    """Serve ``/metrics`` on ``CSTAR_METRICS_PORT`` while the block runs; yields the port
    (``None``: not configured, or not ``enabled`` in this process). A port in use stops the
    process at start."""
    if settings.metrics_port is None or not enabled:
        yield None
        return
    listener = bind_listener(
        settings.metrics_host, settings.metrics_port, option="CSTAR_METRICS_PORT"
    )
    server = QuietServer(
        uvicorn.Config(
            MetricsApp(metrics),
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            **server_options(settings),
        )
    )
    task = asyncio.create_task(server.serve(sockets=[listener]), name="cstar-metrics")
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
        listener.close()
