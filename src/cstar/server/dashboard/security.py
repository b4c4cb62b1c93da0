"""What keeps the dashboard's pages safe in a browser: response headers, CSRF tokens, and where
a sign-in may send the browser back to."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script or style anywhere; everything the pages load comes from this server.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # A one-time sign-in link in the address bar must not leak to another site.
    (b"referrer-policy", b"no-referrer"),
]
_NO_STORE = (b"cache-control", b"no-store")

BASE = "/dashboard"
HOME = f"{BASE}/settings/integrations/webhooks"


class SecurityHeaders:
    """Every dashboard response: CSP, no framing, no sniffing, no referrer; pages are never
    cached (they show secrets once, and private data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith(f"{BASE}/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"cache-control"]
                headers += _HEADERS
                headers.append((b"cache-control", b"public, max-age=3600") if static else _NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class CsrfRejected(Exception):
    """A state-changing request without the form's token."""


def check_csrf(expected: str, sent: object) -> None:
    if not isinstance(sent, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfRejected


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path of this server, never another site."""
    if not value or "\\" in value or any(ord(ch) < 32 for ch in value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return HOME
    if parts.path != BASE and not parts.path.startswith(f"{BASE}/"):
        return HOME
    if parts.path.startswith((f"{BASE}/sign-in", f"{BASE}/sign-out", f"{BASE}/static/")):
        return HOME
    return value
