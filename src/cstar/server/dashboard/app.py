"""The dashboard as its own ASGI application, mounted at ``/dashboard`` by the API's app: its
routes, its static files, its security headers and its error pages (HTML, not the API's JSON)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from cstar.server.bootstrap import Container
from cstar.server.dashboard.pages import auth, catalog, keys, logs, webhooks
from cstar.server.dashboard.security import HOME, CsrfRejected, SecurityHeaders
from cstar.server.dashboard.templating import render
from cstar.server.dashboard.visit import SignInRequired
from cstar.server.domain.errors import DomainError, NotFound, RateLimited
from cstar.server.store.contract import StoreError

log = logging.getLogger(__name__)

PREFIX = "/dashboard"


def _error_page(status: int, title: str, message: str, **headers: str) -> Response:
    return render(
        "error.html",
        {"visit": None, "title": title, "message": message},
        status_code=status,
        headers=headers or None,
    )


def create_dashboard(container_of: Callable[[], Container]) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.container_of = container_of
    app.add_middleware(SecurityHeaders)
    app.mount(
        "/static",
        StaticFiles(packages=[("cstar.server.dashboard", "static")]),
        name="static",
    )
    for module in (auth, webhooks, logs, catalog, keys):
        app.include_router(module.router)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: Exception) -> Response:
        wanted = request.url.path
        if request.url.query:
            wanted += "?" + request.url.query
        target = wanted if request.method == "GET" else HOME
        return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return _error_page(
            403,
            "This form has expired",
            "The page was open too long or was sent from elsewhere. Reload it and try again.",
        )

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        if isinstance(exc, NotFound):
            return _error_page(404, "Not found", "There is nothing here, or it is not yours.")
        if isinstance(exc, RateLimited):
            return _error_page(
                429,
                "Too many attempts",
                f"Try again in {exc.retry_after} seconds.",
                **{"Retry-After": str(exc.retry_after)},
            )
        return _error_page(400, "That did not work", exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: Exception) -> Response:
        return _error_page(
            400, "That did not work", "The address has a value this page does not take."
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return _error_page(404, "Not found", "There is nothing here, or it is not yours.")
        if exc.status_code == 405:
            return _error_page(405, "Not allowed", "This page cannot be used that way.")
        return _error_page(exc.status_code, "That did not work", str(exc.detail))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: Exception) -> Response:
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return _error_page(
            503,
            "The database is unavailable",
            "Try again in a few seconds.",
            **{"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_page(500, "Something went wrong", "Something went wrong on our side.")

    return app
