"""Authentication, team access and rate limits for every ``/api/`` request, before routing.

Doing this ahead of the router means an unauthenticated caller learns nothing (not even whether a
route exists or its body would validate), and a rate-limited caller costs no body parsing.
Which key type a path needs is decided in one table, :func:`requires_secret_key`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from cstar.server.api import envelope
from cstar.server.api.context import (
    STATE_API_KEY,
    STATE_CALLER,
    STATE_RATE_LIMIT,
    request_id_of,
    state_of,
)
from cstar.server.api.errors import domain_error_response
from cstar.server.api.ratelimit import SharedWindowLimiter
from cstar.server.domain.errors import (
    AuthenticationFailed,
    DomainError,
    PermissionDenied,
    RateLimited,
)
from cstar.server.domain.models import ApiKey
from cstar.server.services.keys import KeyService
from cstar.server.store.contract import StoreError

#: Paths under /api/ that need no key.
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})
_TEAM_PATH = re.compile(r"^/api/v1/teams/([^/]+)(?:/.*)?$")


def requires_secret_key(method: str, path: str) -> bool:
    """Team resources need a secret key; the event catalog and ``/api/v1/status`` accept
    publishable keys too."""
    del method
    return _TEAM_PATH.match(path) is not None


@dataclass(frozen=True, slots=True)
class AuthParts:
    keys: KeyService
    key_limiter: SharedWindowLimiter
    failure_limiter: SharedWindowLimiter


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            text = str(value.decode("latin-1")).strip()
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return ""
    return None


def client_address(scope: Scope) -> str:
    """The peer's address, or the client a trusted proxy forwarded for
    (``CSTAR_TRUSTED_PROXIES``: the server rewrites ``client`` only for those)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AuthMiddleware:
    def __init__(self, app: ASGIApp, *, parts: Callable[[Scope], AuthParts]) -> None:
        self.app = app
        self.parts = parts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            key = await self._authenticate(scope)
        except DomainError as exc:
            response = domain_error_response(exc, request_id_of(scope))
            await response(scope, receive, send)
            return
        except StoreError:
            response = envelope.unavailable(envelope.DATABASE_UNAVAILABLE, request_id_of(scope))
            await response(scope, receive, send)
            return
        state_of(scope)[STATE_API_KEY] = key
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> ApiKey:
        parts = self.parts(scope)
        try:
            key = await parts.keys.authenticate(bearer_token(scope))
        except AuthenticationFailed:
            # Only failures are limited: a valid key is never refused for what other callers
            # from its address (a NAT, a proxy) got wrong.
            address = client_address(scope)
            wait = parts.failure_limiter.blocked_for(address)
            if wait:
                raise RateLimited(wait) from None
            await parts.failure_limiter.hit(address)
            raise
        state_of(scope)[STATE_CALLER] = key
        decision = await parts.key_limiter.hit(key.id)
        state_of(scope)[STATE_RATE_LIMIT] = decision
        if not decision.allowed:
            raise RateLimited(decision.retry_after)
        path: str = scope.get("path", "")
        match = _TEAM_PATH.match(path)
        if match is not None:
            KeyService.authorize(
                key, match.group(1), secret_required=requires_secret_key(scope["method"], path)
            )
        elif requires_secret_key(scope["method"], path):
            raise PermissionDenied("Secret key required for this endpoint")
        return key
