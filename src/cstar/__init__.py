"""cStar Webhooks, self-hosted.

The top-level package stays import-light: the receiver's verifier (``cstar.webhook``), the event
catalog (``cstar.events``) and the SDK import nothing from the server. ``from cstar import
CStarClient`` (or ``AsyncCStarClient``) loads the SDK, and httpx, only when asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cstar.sdk import AsyncCStarClient, CStarClient

__version__ = "0.1.0"

__all__ = ["AsyncCStarClient", "CStarClient", "__version__"]

_LAZY = frozenset({"AsyncCStarClient", "CStarClient"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from cstar import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'cstar' has no attribute {name!r}")
