"""The bytes and headers of one delivery attempt, exactly as the contract fixes them (the
builder is shared with ``cstar listen``: ``cstar.delivery_headers``)."""

from __future__ import annotations

from cstar.delivery_headers import USER_AGENT, delivery_headers

__all__ = ["USER_AGENT", "delivery_headers"]
