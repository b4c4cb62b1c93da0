"""Errors the domain and services raise; the API maps each to one HTTP envelope at the edge."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a client can cause."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthenticationFailed(DomainError):
    """No key, a malformed key, an unknown key or a revoked key (401)."""


class PermissionDenied(DomainError):
    """A valid key that may not do this: wrong type or another team (403)."""


class NotFound(DomainError):
    """The object does not exist for this team (404)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class InvalidParameter(DomainError):
    """A parameter is present but unacceptable (400 ``PARAMETER_INVALID``)."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param


class MissingParameter(DomainError):
    """A required parameter is absent (400 ``PARAMETER_MISSING``)."""

    def __init__(self, param: str, message: str | None = None) -> None:
        super().__init__(message or f"Missing required parameter: {param}")
        self.param = param


class RateLimited(DomainError):
    """Too many requests in the current window (429)."""

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message or f"Rate limit exceeded. Try again in {retry_after} seconds")
        self.retry_after = retry_after
