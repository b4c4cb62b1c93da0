"""Between an ``Operation`` and HTTP, without doing any I/O: the request to send, and what an
answer means (a result and its ``Meta``, or a typed error). Both clients call these."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from cstar import __version__
from cstar.sdk._config import ClientConfig
from cstar.sdk._operations import Operation
from cstar.sdk._retry import parse_retry_after
from cstar.sdk.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CStarError,
    RateLimitError,
    error_class,
)
from cstar.sdk.models import Meta, Pagination, parse_datetime

T = TypeVar("T")

USER_AGENT = f"cstar-python/{__version__}"
API_PREFIX = "/api/v1"


def auth_headers(config: ClientConfig) -> dict[str, str]:
    """The headers every API request carries (the realtime stream uses them too)."""
    return {
        "Authorization": f"Bearer {config.api_key}",
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
    }


def team_url(config: ClientConfig, path: str = "") -> str:
    """``{base}/api/v1/teams/{team_id}/{path}``."""
    base = f"{config.base_url}{API_PREFIX}/teams/{quote(config.team_id, safe='')}"
    return f"{base}/{path}" if path else base


def url_of(config: ClientConfig, op: Operation[Any]) -> str:
    if op.team_scoped:
        return team_url(config, op.path)
    return f"{config.base_url}{API_PREFIX}/{op.path}"


def build_request(
    http: httpx.Client | httpx.AsyncClient, config: ClientConfig, op: Operation[Any]
) -> httpx.Request:
    """The request for ``op``, built by ``http`` so its own headers and timeout apply too."""
    return http.build_request(
        op.method,
        url_of(config, op),
        params=dict(op.query) or None,
        json=op.body,
        headers=auth_headers(config),
        timeout=httpx.USE_CLIENT_DEFAULT if config.timeout is None else config.timeout,
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def meta_of(response: httpx.Response) -> Meta:
    """The ``meta`` of an answer (its request id falls back to the ``X-Request-Id`` header)."""
    body = _dict(_json(response))
    meta = _dict(body.get("meta"))
    error = _dict(body.get("error"))
    request_id = (
        meta.get("requestId") or error.get("request_id") or response.headers.get("x-request-id")
    )
    try:
        timestamp = parse_datetime(meta.get("timestamp"))
    except ValueError:
        timestamp = None
    pagination = meta.get("pagination")
    return Meta(
        request_id=request_id,
        timestamp=timestamp,
        pagination=Pagination.from_json(pagination) if isinstance(pagination, dict) else None,
    )


def result_of(response: httpx.Response, op: Operation[T]) -> T:
    """The result of a successful answer; a typed ``CStarError`` for any other."""
    body = _json(response)
    if not response.is_success or (isinstance(body, dict) and body.get("success") is False):
        raise error_of(response, body)
    if not isinstance(body, dict) or "data" not in body:
        raise _unexpected(response, body, "it is not the API's JSON envelope")
    try:
        return op.parse(body["data"])
    except (KeyError, TypeError, ValueError) as exc:
        why = f"the answer's `data` is not as expected ({exc!r})"
        raise _unexpected(response, body, why) from exc


def _unexpected(response: httpx.Response, body: Any, why: str) -> APIError:
    return APIError(
        f"Unexpected answer from {response.request.method} {response.request.url.path}: {why}",
        status=response.status_code,
        request_id=response.headers.get("x-request-id"),
        body=body if body is not None else response.text,
        headers=response.headers,
    )


def error_of(response: httpx.Response, body: Any = None) -> CStarError:
    """The typed error for an error answer, JSON envelope or not."""
    if body is None:
        body = _json(response)
    error = _dict(_dict(body).get("error"))
    status = response.status_code
    message = error.get("message")
    if not isinstance(message, str) or not message:
        text = response.text.strip()
        reason = response.reason_phrase or "error"
        message = f"HTTP {status} {reason}" + (f": {text[:200]}" if text else "")
    cls = error_class(error.get("type"), status)
    fields: dict[str, Any] = {
        "status": status,
        "type": error.get("type"),
        "code": error.get("code"),
        "param": error.get("param"),
        "request_id": error.get("request_id") or response.headers.get("x-request-id"),
        "doc_url": error.get("doc_url"),
        "body": body if body is not None else response.text,
        "headers": response.headers,
    }
    if issubclass(cls, RateLimitError):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return cls(message, retry_after=retry_after, **fields)
    return cls(message, **fields)


def connection_error(exc: httpx.RequestError) -> APIConnectionError:
    """What a request that got no answer raises."""
    try:
        where = f"{exc.request.method} {exc.request.url}"
    except RuntimeError:  # the error carries no request
        where = "the API"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Timed out waiting for {where}: {detail}")
    return APIConnectionError(f"Could not reach {where}: {detail}")
