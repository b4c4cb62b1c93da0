"""The exceptions the SDK raises: one base, one class per kind of failure.

``CStarError`` carries what the API said (``message``, ``status``, ``type``, ``code``,
``param``, ``request_id``, ``doc_url``) and the raw answer (``body``, ``headers``). An error
answer is mapped by its envelope's ``error.type`` first and its HTTP status second, so even an
answer that is not JSON (a proxy's 502 page) becomes a typed error with its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "CStarError",
    "ConfigurationError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ValidationError",
    "error_class",
]


class CStarError(Exception):
    """Base of every error this SDK raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        doc_url: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The HTTP status, or ``None`` when no answer came (connection errors, timeouts).
        self.status = status
        #: The envelope's ``error.type``, such as ``"validation_error"``.
        self.type = type
        #: The envelope's ``error.code``, such as ``"PARAMETER_INVALID"``.
        self.code = code
        #: The parameter at fault, such as ``"events"``.
        self.param = param
        #: Quote this to support: the API's ``X-Request-Id``.
        self.request_id = request_id
        self.doc_url = doc_url
        #: The decoded JSON answer, or its text when it was not JSON.
        self.body = body
        self.headers: Mapping[str, str] = headers if headers is not None else {}

    def __str__(self) -> str:
        details = [str(self.status)] if self.status is not None else []
        if self.type or self.code:
            details.append("/".join(p for p in (self.type, self.code) if p))
        if self.param:
            details.append(f"param {self.param}")
        if self.request_id:
            details.append(f"request {self.request_id}")
        return f"{self.message} ({', '.join(details)})" if details else self.message


class ConfigurationError(CStarError):
    """The client cannot be built: no API key or team id was given or found in the environment."""


class AuthenticationError(CStarError):
    """401: no key, an unknown key or a revoked key."""


class PermissionDeniedError(CStarError):
    """403: a valid key that may not do this (a publishable key, another team's id)."""


class NotFoundError(CStarError):
    """404: no such object for this team."""


class InvalidRequestError(CStarError):
    """A 4xx the caller caused: the request cannot be served as sent."""


class ValidationError(InvalidRequestError):
    """400 or 413: a parameter is missing or invalid; ``param`` names it."""


class RateLimitError(CStarError):
    """429: too many requests in the current window."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: Seconds the API asked to wait (its ``Retry-After``), or ``None`` if it did not say.
        self.retry_after = retry_after


class APIError(CStarError):
    """5xx, or an answer the SDK could not understand."""


class APIConnectionError(CStarError):
    """No answer: the connection could not be made, or broke."""


class APITimeoutError(APIConnectionError):
    """No answer in time (connect, write, read or waiting for a pooled connection)."""


_BY_TYPE: Mapping[str, type[CStarError]] = {
    "authentication_error": AuthenticationError,
    "authorization_error": PermissionDeniedError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "validation_error": ValidationError,
    "invalid_request_error": InvalidRequestError,
    "rate_limit_error": RateLimitError,
    "api_error": APIError,
}

_BY_STATUS: Mapping[int, type[CStarError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: ValidationError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class(error_type: str | None, status: int) -> type[CStarError]:
    """The class for an error answer: by the envelope's ``error.type``, else by HTTP status."""
    if error_type is not None and error_type in _BY_TYPE:
        return _BY_TYPE[error_type]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return InvalidRequestError
    return APIError
