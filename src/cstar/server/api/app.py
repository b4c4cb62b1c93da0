"""The ASGI application: routes, middleware and error mapping assembled declaratively."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse
from starlette.types import Scope

from cstar import __version__
from cstar.server.api import errors
from cstar.server.api.auth import AuthMiddleware, AuthParts
from cstar.server.api.context import RequestContextMiddleware
from cstar.server.api.deps import single_valued_query
from cstar.server.api.openapi import build_openapi
from cstar.server.api.request_log import RequestLogMiddleware
from cstar.server.api.routes import (
    catalog,
    deliveries,
    events,
    health,
    keys,
    logs,
    metrics,
    status,
    stream,
    webhooks,
)
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.dashboard.app import create_dashboard
from cstar.server.domain.clock import Clock
from cstar.server.http.body_deadline import BodyDeadlineMiddleware
from cstar.server.observability.metrics import Metrics
from cstar.server.services.request_log import RequestLogRecorder


def _auth_parts(scope: Scope) -> AuthParts:
    container: Container = scope["app"].state.container
    return AuthParts(
        keys=container.keys,
        key_limiter=container.key_limiter,
        failure_limiter=container.auth_failure_limiter,
    )


def _request_log(scope: Scope) -> tuple[RequestLogRecorder, Clock]:
    container: Container = scope["app"].state.container
    return container.request_log, container.clock


def _metrics(scope: Scope) -> Metrics:
    container: Container = scope["app"].state.container
    return container.metrics


def _operation_id(route: APIRoute) -> str:
    """``createWebhook`` rather than FastAPI's ``create_webhook_api_v1_teams__teamId_...``."""
    head, *rest = route.name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def create_app(settings: Settings, *, container: Container | None = None) -> FastAPI:
    """Build the app. Without ``container`` the app opens (and closes) its own on startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if container is not None:
            app.state.container = container
            yield
            return
        owned = await open_container(settings)
        app.state.container = owned
        try:
            yield
        finally:
            await owned.aclose()

    app = FastAPI(
        title="cStar Webhooks API",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        dependencies=[Depends(single_valued_query)],
        middleware=[
            Middleware(
                RequestContextMiddleware,
                max_body_bytes=settings.max_body_bytes,
                metrics=_metrics,
            ),
            Middleware(RequestLogMiddleware, recorder=_request_log),
            Middleware(AuthMiddleware, parts=_auth_parts),
            Middleware(BodyDeadlineMiddleware, timeout=settings.body_timeout),
        ],
    )
    if container is not None:
        app.state.container = container
    errors.install(app)

    def current_container() -> Container:
        container: Container = app.state.container
        return container

    # The router tries routes in order: publishing, the hot path, first.
    routers = (events, webhooks, deliveries, stream, keys, logs, catalog, status, health, metrics)
    for module in routers:
        app.include_router(module.router)

    app.mount("/dashboard", create_dashboard(current_container))

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=307)

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
