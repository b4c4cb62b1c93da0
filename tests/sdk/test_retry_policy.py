"""The retry decision and delay as pure functions: which outcomes are retried, after how long,
and how an error answer maps to an exception class."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from cstar.sdk._retry import RetryPolicy, parse_retry_after, retry_delay
from cstar.sdk.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
    error_class,
)

POLICY = RetryPolicy()
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _response(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, headers=headers)


def _error(kind: type[httpx.TransportError]) -> httpx.TransportError:
    return kind("boom", request=httpx.Request("GET", "http://127.0.0.1/"))


@pytest.mark.parametrize("retry_safe", [True, False])
def test_429_and_never_sent_requests_are_always_retried(retry_safe: bool) -> None:
    def zero() -> float:
        return 0.0

    assert retry_delay(POLICY, 0, retry_safe=retry_safe, response=_response(429), rand=zero) == 0.5
    for kind in (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
        assert retry_delay(POLICY, 0, retry_safe=retry_safe, error=_error(kind), rand=zero) == 0.5


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_only_when_retry_safe(status: int) -> None:
    assert retry_delay(POLICY, 0, retry_safe=True, response=_response(status)) is not None
    assert retry_delay(POLICY, 0, retry_safe=False, response=_response(status)) is None


@pytest.mark.parametrize(
    "kind", [httpx.ReadError, httpx.ReadTimeout, httpx.WriteError, httpx.RemoteProtocolError]
)
def test_a_request_that_may_have_arrived_is_retried_only_when_retry_safe(
    kind: type[httpx.TransportError],
) -> None:
    assert retry_delay(POLICY, 0, retry_safe=True, error=_error(kind)) is not None
    assert retry_delay(POLICY, 0, retry_safe=False, error=_error(kind)) is None


@pytest.mark.parametrize("status", [200, 201, 400, 401, 403, 404, 409, 413])
def test_other_answers_are_final(status: int) -> None:
    assert retry_delay(POLICY, 0, retry_safe=True, response=_response(status)) is None


def test_max_retries_is_the_number_of_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    assert retry_delay(policy, 1, retry_safe=True, response=_response(503)) is not None
    assert retry_delay(policy, 2, retry_safe=True, response=_response(503)) is None
    assert (
        retry_delay(RetryPolicy(max_retries=0), 0, retry_safe=True, response=_response(429)) is None
    )


def test_backoff_doubles_up_to_eight_seconds_less_up_to_a_quarter_of_jitter() -> None:
    policy = RetryPolicy(max_retries=10)
    delays = [
        retry_delay(policy, n, retry_safe=True, response=_response(503), rand=lambda: 0.0)
        for n in range(7)
    ]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    jittered = retry_delay(policy, 2, retry_safe=True, response=_response(503), rand=lambda: 1.0)
    assert jittered == 1.5


def test_retry_after_is_honoured_in_seconds_or_as_a_date_and_capped() -> None:
    def delay(value: str, policy: RetryPolicy = POLICY) -> float | None:
        response = _response(429, value)
        return retry_delay(policy, 0, retry_safe=False, response=response, now=NOW)

    assert delay("3") == 3.0
    assert delay("0") == 0.0
    assert delay("Thu, 01 Jan 2026 12:00:07 GMT") == 7.0
    assert delay("Thu, 01 Jan 2026 11:00:00 GMT") == 0.0  # in the past: now
    assert delay("600") == 60.0
    assert delay("600", RetryPolicy(max_retry_after=5)) == 5.0
    garbage = retry_delay(
        POLICY, 0, retry_safe=False, response=_response(429, "soon"), rand=lambda: 0.0
    )
    assert garbage == 0.5


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("1.5") == 1.5


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(TypeError):
        RetryPolicy(max_retries=True)


@pytest.mark.parametrize(
    ("error_type", "status", "expected"),
    [
        ("authentication_error", 401, AuthenticationError),
        ("authorization_error", 403, PermissionDeniedError),
        ("not_found_error", 404, NotFoundError),
        ("validation_error", 400, ValidationError),
        ("validation_error", 413, ValidationError),
        ("invalid_request_error", 405, InvalidRequestError),
        ("rate_limit_error", 429, RateLimitError),
        ("api_error", 503, APIError),
        # the type wins over the status
        ("not_found_error", 400, NotFoundError),
        # no (known) type: the status decides
        (None, 401, AuthenticationError),
        ("something_new", 403, PermissionDeniedError),
        (None, 413, ValidationError),
        (None, 418, InvalidRequestError),
        (None, 429, RateLimitError),
        (None, 500, APIError),
        (None, 302, APIError),
    ],
)
def test_error_classes(error_type: str | None, status: int, expected: type[Exception]) -> None:
    assert error_class(error_type, status) is expected
