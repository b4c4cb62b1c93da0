"""The response envelopes of seed 002, built once here for every route and error.

Success: ``{"success": true, "data": ..., "meta": {"requestId", "timestamp", "pagination"?}}``.
Error: ``{"success": false, "error": {"type", "code", "message", "param"?, "doc_url"?,
"request_id"}, "meta": {"timestamp"}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from cstar.server.domain.clock import iso_z, utc_now

DOCS = "https://www.cstar.help/developers/api-reference"
DOC_URLS = {
    "authentication_error": f"{DOCS}#authentication",
    "authorization_error": f"{DOCS}#authentication",
    "rate_limit_error": f"{DOCS}#rate-limiting",
}


class EnvelopeResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def success(
    data: Any,
    request_id: str,
    *,
    status_code: int = 200,
    pagination: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> EnvelopeResponse:
    meta: dict[str, Any] = {"requestId": request_id, "timestamp": iso_z(utc_now())}
    if pagination is not None:
        meta["pagination"] = dict(pagination)
    return EnvelopeResponse(
        {"success": True, "data": data, "meta": meta}, status_code=status_code, headers=headers
    )


def error_body(
    *,
    type_: str,
    code: str,
    message: str,
    request_id: str,
    param: str | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type_, "code": code, "message": message}
    if param is not None:
        error["param"] = param
    if type_ in DOC_URLS:
        error["doc_url"] = DOC_URLS[type_]
    error["request_id"] = request_id
    return {"success": False, "error": error, "meta": {"timestamp": iso_z(utc_now())}}


def error(
    status_code: int,
    *,
    type_: str,
    code: str,
    message: str,
    request_id: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EnvelopeResponse:
    body = error_body(type_=type_, code=code, message=message, request_id=request_id, param=param)
    return EnvelopeResponse(body, status_code=status_code, headers=headers)


def raw_headers(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in headers}


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly"


def unavailable(
    message: str,
    request_id: str,
    *,
    retry_after: int | None = 5,
    headers: Mapping[str, str] | None = None,
) -> EnvelopeResponse:
    """503 ``api_error``/``service_unavailable``: the server cannot serve this now (its database
    is away, it is full, it is stopping); ``Retry-After`` says when to try again."""
    extra = dict(headers or {})
    if retry_after is not None:
        extra["Retry-After"] = str(retry_after)
    return error(
        503,
        type_="api_error",
        code="service_unavailable",
        message=message,
        request_id=request_id,
        headers=extra or None,
    )
