"""Small helpers shared by tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from cstar.server.api.ratelimit import SharedWindowLimiter
from cstar.server.bootstrap import FAILURE_LIMITER, KEY_LIMITER, Container
from cstar.server.config import RateLimit, Settings
from cstar.server.store.rate_limits import SqlRateLimitLedger


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def with_rate_limit(settings: Settings, limit: int, window: int = 60) -> Settings:
    return replace(settings, rate_limit=RateLimit(limit, window))


def key_limiter(container: Container, limit: int, window: int = 60) -> SharedWindowLimiter:
    """The per-key limiter with another limit, on the container's database."""
    ledger = SqlRateLimitLedger(container.database, KEY_LIMITER)
    return SharedWindowLimiter(RateLimit(limit, window), container.clock, ledger)


def failure_limiter(container: Container, limit: int, window: int = 60) -> SharedWindowLimiter:
    """The failed-authentication limiter with another limit, on the container's database. Its
    clock stands still in the middle of the current window: windows are fixed (aligned to the
    epoch), and a test's requests must not straddle two of them."""
    ledger = SqlRateLimitLedger(container.database, FAILURE_LIMITER)
    now = container.clock()
    middle = now.timestamp() // window * window + window / 2
    frozen = datetime.fromtimestamp(middle, tz=now.tzinfo or UTC)
    return SharedWindowLimiter(RateLimit(limit, window), lambda: frozen, ledger)


def assert_error(
    response: httpx.Response,
    status: int,
    type_: str,
    code: str,
    *,
    param: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The response is the seed's error envelope with these values, and nothing leaked."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert set(body) == {"success", "error", "meta"}
    error = body["error"]
    assert error["type"] == type_, body
    assert error["code"] == code, body
    assert error["request_id"].startswith("req_")
    assert error["request_id"] == response.headers["x-request-id"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(body["meta"]) == {"timestamp"}
    if param is not None:
        assert error.get("param") == param, body
    if message is not None:
        assert error["message"] == message, body
    assert "Traceback" not in response.text
    return error


def assert_success(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    assert body["meta"]["requestId"].startswith("req_")
    assert body["meta"]["requestId"] == response.headers["x-request-id"]
    assert body["meta"]["timestamp"].endswith("Z")
    return body["data"]
