"""What ``uvicorn.Config`` is given besides the application and the address."""

from __future__ import annotations

from typing import Any

from cstar.server.config import Settings


def server_options(settings: Settings) -> dict[str, Any]:
    """The proxies whose ``X-Forwarded-*`` headers are believed: only ``CSTAR_TRUSTED_PROXIES``,
    none by default (uvicorn's own default trusts 127.0.0.1, which would let any local caller
    choose its address)."""
    return {
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
    }
