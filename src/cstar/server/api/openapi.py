"""The OpenAPI document: FastAPI's, corrected to describe what the API really answers.

FastAPI documents a 422 ``HTTPValidationError`` for every route with parameters; this API answers
400 in the error envelope instead, so those are removed. Bearer authentication, the request-id
and rate-limit headers, and the 413 body limit are added where they apply.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cstar import __version__
from cstar.server.api.auth import PUBLIC_PATHS

_HEADER_DOCS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "Unique id of this request (also in `meta.requestId` / `error.request_id`)",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed per window for this key",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Unix time (seconds) when the current window ends",
        "schema": {"type": "integer"},
    },
}
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "integer"},
}

DESCRIPTION = """\
Manage webhooks, API keys and the event catalog of a self-hosted cStar Webhooks server.

Authenticate with `Authorization: Bearer <key>`. Team resources need a **secret** key
(`sk_test_...` / `sk_live_...`); publishable keys (`pk_...`) may only read the event catalog
and `/api/v1/status`.

Every success is `{"success": true, "data": ..., "meta": {"requestId", "timestamp"}}` (lists add
`meta.pagination`); every error is `{"success": false, "error": {"type", "code", "message",
"param"?, "doc_url"?, "request_id"}, "meta": {"timestamp"}}`.
"""


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title="cStar Webhooks API",
        version=__version__,
        description=DESCRIPTION,
        routes=app.routes,
    )
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["headers"] = {**_HEADER_DOCS, "Retry-After": _RETRY_AFTER}
    components["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: sk_test_..., sk_live_..., pk_test_... or pk_live_...",
        }
    }
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            _fix_operation(path, operation)
    app.openapi_schema = spec
    return spec


def _fix_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    authenticated = path.startswith("/api/") and path not in PUBLIC_PATHS
    if authenticated:
        operation["security"] = [{"bearerAuth": []}]
    for status, response in responses.items():
        names = ["X-Request-Id"]
        if authenticated and status != "401":
            names += ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]
        if status in {"429", "503"}:
            names.append("Retry-After")
        headers = response.setdefault("headers", {})
        for name in names:
            headers[name] = {"$ref": f"#/components/headers/{name}"}
