"""Per-request context as plain ASGI middleware: request id, body size limit, response headers.

Outermost layer: every response, errors included, carries ``X-Request-Id`` and, for authenticated
requests, the ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cstar.server.api import envelope
from cstar.server.domain.ids import new_request_id
from cstar.server.observability.metrics import Metrics
from cstar.server.observability.routes import RouteTemplates

STATE_REQUEST_ID = "request_id"
STATE_RATE_LIMIT = "rate_limit"
STATE_API_KEY = "api_key"
#: The key a request authenticated with, set even when the request is then refused (403, 429):
#: whom the request log attributes the request to. Routes use ``STATE_API_KEY``.
STATE_CALLER = "caller"


def state_of(scope: Scope) -> MutableMapping[str, Any]:
    state: MutableMapping[str, Any] = scope.setdefault("state", {})
    return state


def request_id_of(scope: Scope) -> str:
    rid = state_of(scope).get(STATE_REQUEST_ID)
    if not isinstance(rid, str):
        rid = new_request_id()
        state_of(scope)[STATE_REQUEST_ID] = rid
    return rid


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the {limit} bytes allowed")


@dataclass(slots=True)
class _Exchange:
    """What the timing of a request needs to know once it is over."""

    #: The scope the app was given (where the router notes the route matched).
    scope: Scope
    #: The response's status; 500 unless a response started.
    status: int = 500


class RequestContextMiddleware:
    """Also times every HTTP request, for ``cstar_http_request_duration_seconds``."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, metrics: Callable[[Scope], Metrics]
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self._templates: RouteTemplates | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        metrics = self.metrics(scope)
        if self._templates is None:
            app = scope["app"]
            self._templates = RouteTemplates(lambda: app.openapi()["paths"])
        exchange = _Exchange(scope)
        try:
            await self._handle(scope, receive, send, exchange)
        finally:
            metrics.record_request(
                self._templates.of(exchange.scope),
                scope.get("method", ""),
                exchange.status,
                time.perf_counter() - started,
            )

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange
    ) -> None:
        state = state_of(scope)
        rid = request_id_of(scope)
        limit = self.max_body_bytes

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                decision = state.get(STATE_RATE_LIMIT)
                if decision is not None:
                    present = {name.lower() for name, _ in headers}
                    headers.extend(h for h in decision.headers() if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        if scope.get("path", "").startswith("/api/"):
            scope = _assume_json(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = envelope.error(
                413,
                type_="validation_error",
                code="PARAMETER_INVALID",
                message=f"Request body is larger than the {limit} bytes allowed",
                request_id=rid,
                param="body",
            )
            await response(scope, receive, send_with_headers)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        exchange.scope = scope
        await self.app(scope, limited_receive, send_with_headers)


_LENIENT_TYPES = (b"", b"application/x-www-form-urlencoded", b"text/plain")


def _assume_json(scope: Scope) -> Scope:
    """The API speaks JSON only: a body sent without a content type, or with curl's default
    form type, is read as JSON (invalid JSON then gets a clear 400)."""
    headers = scope.get("headers", [])
    content_type = next((v for k, v in headers if k == b"content-type"), b"")
    if content_type.split(b";", 1)[0].strip().lower() not in _LENIENT_TYPES:
        return scope
    rest = [(k, v) for k, v in headers if k != b"content-type"]
    return {**scope, "headers": [*rest, (b"content-type", b"application/json")]}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
