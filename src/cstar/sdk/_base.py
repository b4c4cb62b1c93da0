"""What both clients hold besides their HTTP client: settings and the last response's meta."""

from __future__ import annotations

from cstar.sdk._config import ClientConfig
from cstar.sdk.models import Meta


class ClientBase:
    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        #: The meta of the last answer (its ``request_id`` is what to quote to support). With
        #: requests in flight concurrently it is whichever finished last; a page's own meta is
        #: ``page.meta``.
        self.last_meta: Meta | None = None

    @property
    def base_url(self) -> str:
        """Where the API is, such as ``http://127.0.0.1:8000``."""
        return self._config.base_url

    @property
    def team_id(self) -> str:
        return self._config.team_id

    @property
    def api_key(self) -> str:
        return self._config.api_key

    @property
    def max_retries(self) -> int:
        return self._config.retry.max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, team_id={self.team_id!r})"
