"""One mapping from errors to HTTP: domain errors, validation errors, routing errors, bugs.

Every error a client can cause leaves through here in the envelope of seed 002.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from cstar.server.api import envelope
from cstar.server.api.context import request_id_of
from cstar.server.domain.errors import (
    AuthenticationFailed,
    DomainError,
    InvalidParameter,
    MissingParameter,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from cstar.server.domain.request_logs import loggable_path
from cstar.server.store.contract import StoreError

log = logging.getLogger(__name__)

_KINDS: Mapping[type[DomainError], tuple[int, str, str]] = {
    AuthenticationFailed: (401, "authentication_error", "authentication_required"),
    PermissionDenied: (403, "authorization_error", "insufficient_permissions"),
    NotFound: (404, "not_found_error", "RESOURCE_MISSING"),
    InvalidParameter: (400, "validation_error", "PARAMETER_INVALID"),
    MissingParameter: (400, "validation_error", "PARAMETER_MISSING"),
    RateLimited: (429, "rate_limit_error", "rate_limit_exceeded"),
}


def domain_error_response(exc: DomainError, request_id: str) -> Response:
    status, type_, code = _KINDS.get(type(exc), (400, "validation_error", "PARAMETER_INVALID"))
    param = getattr(exc, "param", None)
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return envelope.error(
        status,
        type_=type_,
        code=code,
        message=exc.message,
        request_id=request_id,
        param=param,
        headers=headers,
    )


# -- request validation (pydantic / FastAPI) ------------------------------------------------

_TYPE_WORDS = {
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "bool_parsing": "a boolean (true or false)",
    "list_type": "an array",
    "dict_type": "an object",
    "model_attributes_type": "an object",
    "datetime_type": "an ISO 8601 date-time such as 2026-11-20T00:00:00Z",
    "datetime_parsing": "an ISO 8601 date-time such as 2026-11-20T00:00:00Z",
    "datetime_from_date_parsing": "an ISO 8601 date-time such as 2026-11-20T00:00:00Z",
    "aware_datetime": "an ISO 8601 date-time with a timezone, such as 2026-11-20T00:00:00Z",
}


def _param_of(loc: Sequence[Any]) -> str | None:
    if len(loc) >= 2 and loc[0] in {"body", "query", "path", "header"}:
        if len(loc) >= 4 and isinstance(loc[2], int):  # a field of an item of a list
            return f"{loc[1]}[{loc[2]}]." + ".".join(str(part) for part in loc[3:])
        return str(loc[1])
    return None


def _message(err: Mapping[str, Any], param: str | None) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    name = param or "value"
    if kind in _TYPE_WORDS:
        return f"{name} must be {_TYPE_WORDS[kind]}"
    if kind == "string_too_long":
        return f"{name} must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"{name} must be at least {ctx.get('min_length')} characters"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"{name} {err.get('msg', 'is out of range').lower()}"
    if kind == "datetime_range":
        return f"{name} is outside the years 1 to 9999 in UTC"
    if kind == "extra_forbidden":
        return f"Unknown parameter: {name}"
    if kind == "literal_error":
        return f"{name} must be {ctx.get('expected')}"
    if kind == "enum":
        return f"{name} must be one of {ctx.get('expected')}"
    if kind in {"value_error", "assertion_error"}:
        return str(ctx.get("error") or err.get("msg"))
    custom = err.get("msg")
    return f"{name}: {custom}" if kind.startswith("pydantic") or not custom else str(custom)


def validation_response(exc: RequestValidationError, request_id: str) -> Response:
    errors = list(exc.errors())
    first: Mapping[str, Any] = errors[0] if errors else {"type": "value_error", "loc": ()}
    loc = tuple(first.get("loc", ()))
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        return envelope.error(
            400,
            type_="validation_error",
            code="PARAMETER_INVALID",
            message="Request body is not valid JSON",
            request_id=request_id,
            param="body",
        )
    if loc == ("body",):
        missing = kind == "missing"
        return envelope.error(
            400,
            type_="validation_error",
            code="PARAMETER_MISSING" if missing else "PARAMETER_INVALID",
            message="Request body is required: send a JSON object"
            if missing
            else "Request body must be a JSON object (send Content-Type: application/json)",
            request_id=request_id,
            param="body",
        )
    param = _param_of(loc)
    if kind == "missing":
        return envelope.error(
            400,
            type_="validation_error",
            code="PARAMETER_MISSING",
            message=f"Missing required parameter: {param}",
            request_id=request_id,
            param=param,
        )
    return envelope.error(
        400,
        type_="validation_error",
        code="PARAMETER_INVALID",
        message=_message(first, param),
        request_id=request_id,
        param=param,
    )


def http_error_response(exc: StarletteHTTPException, request: Request) -> Response:
    request_id = request_id_of(request.scope)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return envelope.error(
            404,
            type_="not_found_error",
            code="RESOURCE_MISSING",
            message=f"Unrecognized request URL ({request.method}: {request.url.path})",
            request_id=request_id,
        )
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
        return envelope.error(
            405,
            type_="invalid_request_error",
            code="method_not_allowed",
            message=f"{request.method} is not allowed on {request.url.path}",
            request_id=request_id,
            headers=headers,
        )
    if exc.status_code == 413:
        return envelope.error(
            413,
            type_="validation_error",
            code="PARAMETER_INVALID",
            message=str(exc.detail),
            request_id=request_id,
            param="body",
        )
    if exc.status_code == 400:
        return envelope.error(
            400,
            type_="validation_error",
            code="PARAMETER_INVALID",
            message="Request body could not be read",
            request_id=request_id,
            param="body",
        )
    return envelope.error(
        exc.status_code,
        type_="invalid_request_error",
        code="request_invalid",
        message=str(exc.detail),
        request_id=request_id,
        headers=headers,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first match)."""
    methods: list[str] = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            methods.append(method)
    return methods


def _shown(request: Request) -> str:
    """The request's path as logs show it: no key or secret, no query values."""
    return loggable_path(request.scope.get("path", ""), request.scope.get("query_string", b""))


def install(app: FastAPI) -> None:
    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return domain_error_response(exc, request_id_of(request.scope))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_response(exc, request_id_of(request.scope))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return http_error_response(exc, request)

    async def on_store(request: Request, exc: Exception) -> Response:
        log.error("database error on %s %s: %s", request.method, _shown(request), exc.__cause__)
        return envelope.unavailable(envelope.DATABASE_UNAVAILABLE, request_id_of(request.scope))

    async def on_bug(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, _shown(request))
        return envelope.error(
            500,
            type_="api_error",
            code="internal_error",
            message="Something went wrong on our side; the request id helps us find it",
            request_id=request_id_of(request.scope),
        )

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(StoreError, on_store)
    app.add_exception_handler(Exception, on_bug)
