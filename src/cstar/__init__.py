"""cStar Webhooks, self-hosted.

The top-level package stays import-light: the receiver's verifier (``cstar.webhook``), the event
catalog (``cstar.events``) and the SDK import nothing from the server.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
