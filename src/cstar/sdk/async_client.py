"""``AsyncCStarClient``: the asyncio client. Everything but sending and sleeping is shared with
the sync client (``_operations``, ``_core``, ``_retry``)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self, TypeVar

import httpx

from cstar.sdk import _core
from cstar.sdk import _operations as ops
from cstar.sdk._base import ClientBase
from cstar.sdk._config import DEFAULT_TIMEOUT, Timeout, resolve_config
from cstar.sdk._operations import Operation, PagedOperation
from cstar.sdk._retry import DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER, retry_delay
from cstar.sdk._transport import default_http_client
from cstar.sdk.models import Meta, Status
from cstar.sdk.pagination import AsyncPage
from cstar.sdk.realtime import AsyncRealtime
from cstar.sdk.resources import (
    AsyncDeliveries,
    AsyncEvents,
    AsyncKeys,
    AsyncLogs,
    AsyncWebhooks,
)

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a list


class AsyncCStarClient(ClientBase):
    """The cStar API, with asyncio::

        async with AsyncCStarClient() as cstar:  # CSTAR_SECRET_KEY, CSTAR_TEAM_ID, ...
            webhook = await cstar.webhooks.create(url="https://example.com/hook", events="*")
            async for w in cstar.webhooks.list():
                ...

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
        http_client: httpx.AsyncClient | None = None,
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
        self._http = http_client or default_http_client(
            DEFAULT_TIMEOUT if timeout is None else timeout
        )
        self.webhooks = AsyncWebhooks(self)
        self.events = AsyncEvents(self)
        self.deliveries = AsyncDeliveries(self)
        self.keys = AsyncKeys(self)
        self.logs = AsyncLogs(self)
        #: Every event of the team as it is published (server-sent events).
        self.realtime = AsyncRealtime(self._config)

    async def status(self) -> Status:
        """The key's team, type and mode, the server's version, and rate-limit usage."""
        return await self._call(ops.get_status())

    @property
    def http_client(self) -> httpx.AsyncClient:
        return self._http

    async def close(self) -> None:
        """End realtime subscriptions and close the connections (not those of an
        ``http_client`` you passed in)."""
        await self.realtime.close()
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _send(self, op: Operation[T]) -> tuple[T, Meta]:
        request = _core.build_request(self._http, self._config, op)
        retries = 0
        while True:
            try:
                response = await self._http.send(request)
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
            await asyncio.sleep(delay)
            retries += 1

    async def _call(self, op: Operation[T], /) -> T:
        return (await self._send(op))[0]

    async def _page(self, paged: PagedOperation[I], cursor: str | None = None, /) -> AsyncPage[I]:
        items, meta = await self._send(paged.first if cursor is None else paged.after(cursor))
        return AsyncPage.of(items, meta, lambda after: self._page(paged, after))
