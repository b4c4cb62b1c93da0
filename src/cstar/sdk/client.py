"""``CStarClient``: the synchronous client. Everything but sending and sleeping is shared with
the async client (``_operations``, ``_core``, ``_retry``)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self, TypeVar

import httpx

from cstar.sdk import _core
from cstar.sdk import _operations as ops
from cstar.sdk._base import ClientBase
from cstar.sdk._config import DEFAULT_TIMEOUT, Timeout, resolve_config
from cstar.sdk._operations import Operation, PagedOperation
from cstar.sdk._retry import DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER, retry_delay
from cstar.sdk.models import Meta, Status
from cstar.sdk.pagination import Page
from cstar.sdk.realtime import Realtime
from cstar.sdk.resources import Deliveries, Events, Keys, Logs, Webhooks

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a list


class CStarClient(ClientBase):
    """The cStar API, synchronously::

        with CStarClient() as cstar:  # CSTAR_SECRET_KEY, CSTAR_TEAM_ID, CSTAR_BASE_URL
            webhook = cstar.webhooks.create(url="https://example.com/hook", events=["ticket.*"])

    ``timeout`` is in seconds (or an ``httpx.Timeout``), per request; by default 30 s, or
    the timeout of the ``http_client`` you pass. A client you pass is yours to close.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        team_id: str | None = None,
        base_url: str | None = None,
        timeout: Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            resolve_config(
                api_key=api_key,
                team_id=team_id,
                base_url=base_url,
                timeout=timeout,
                max_retries=max_retries,
                max_retry_after=max_retry_after,
            )
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout
        )
        self.webhooks = Webhooks(self)
        self.events = Events(self)
        self.deliveries = Deliveries(self)
        self.keys = Keys(self)
        self.logs = Logs(self)
        #: Every event of the team as it is published (server-sent events).
        self.realtime = Realtime(self._config)

    def status(self) -> Status:
        """The key's team, type and mode, the server's version, and rate-limit usage."""
        return self._call(ops.get_status())

    @property
    def http_client(self) -> httpx.Client:
        return self._http

    def close(self) -> None:
        """End realtime subscriptions and close the connections (not those of an
        ``http_client`` you passed in)."""
        self.realtime.close()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, op: Operation[T]) -> tuple[T, Meta]:
        request = _core.build_request(self._http, self._config, op)
        retries = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.RequestError as exc:
                delay = retry_delay(
                    self._config.retry, retries, retry_safe=op.retry_safe, error=exc
                )
                if delay is None:
                    raise _core.connection_error(exc) from exc
            else:
                delay = retry_delay(
                    self._config.retry, retries, retry_safe=op.retry_safe, response=response
                )
                if delay is None:
                    self.last_meta = meta = _core.meta_of(response)
                    return _core.result_of(response, op), meta
            time.sleep(delay)
            retries += 1

    def _call(self, op: Operation[T], /) -> T:
        return self._send(op)[0]

    def _page(self, paged: PagedOperation[I], cursor: str | None = None, /) -> Page[I]:
        items, meta = self._send(paged.first if cursor is None else paged.after(cursor))
        return Page.of(items, meta, lambda after: self._page(paged, after))
