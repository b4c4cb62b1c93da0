"""What ``uvicorn.Config`` is given besides the application and the address."""

from __future__ import annotations

import functools
from typing import Any

from cstar.server.config import Settings
from cstar.server.http.protocol import ConnectionLimits, GuardedHttpToolsProtocol


def server_options(settings: Settings) -> dict[str, Any]:
    """The guarded HTTP protocol (timeouts, connection cap) and the proxies whose
    ``X-Forwarded-*`` headers are believed: only ``CSTAR_TRUSTED_PROXIES``, none by default
    (uvicorn's own default trusts 127.0.0.1, which would let any local caller choose its
    address)."""
    limits = ConnectionLimits(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )
    return {
        "http": functools.partial(GuardedHttpToolsProtocol, limits=limits),
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
    }
