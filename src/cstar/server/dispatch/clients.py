"""The HTTP clients deliveries go through: pyreqwest (reqwest, in Rust), one per address dialled.

reqwest resolves names itself and takes no resolver from Python; what it does take is a fixed
address per host name (``ClientBuilder.resolve``). So outside ``--dev`` each (host, address)
gets its own client, pinned to an address that :mod:`.resolver` answered and checked, and such a
client can dial nothing else: redirects are off, proxies from the environment are ignored, and
plain ``http://`` is refused. IP-literal hosts need no resolving and share one client.

With ``CSTAR_EGRESS_PROXY`` every client sends through that proxy, which resolves names itself:
then one shared client serves every host (a pinned address would not be used), and the sender
checks each name before (every address public, :class:`~.resolver.SafeResolver`'s ``strict``).

Each client keeps its own pool of kept-alive connections. At most ``max_clients`` are kept; the
least recently used is closed once any request still using it has had time to finish.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import timedelta

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.proxy import ProxyBuilder

#: How long an idle kept-alive connection stays open.
IDLE_TIMEOUT = timedelta(seconds=30)


class Clients:
    """Builds, keeps and closes the clients of one :class:`~.sender.Sender`."""

    def __init__(
        self,
        *,
        timeout: float,
        max_connections: int,
        https_only: bool,
        max_clients: int = 1024,
        proxy: str | None = None,
    ) -> None:
        self._proxy = proxy
        self._timeout = timeout
        self._max_connections = max_connections
        self._https_only = https_only
        self._max_clients = max_clients
        self._shared: Client | None = None
        self._pinned: OrderedDict[tuple[str, str], Client] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def shared(self) -> Client:
        """The client for IP-literal hosts (and, in ``--dev``, for every host)."""
        if self._shared is None:
            self._shared = self._builder().build()
        return self._shared

    def pinned(self, host: str, address: str) -> Client:
        """The client that dials ``address`` for every request to ``host``.

        ``host`` must be spelt as the client reads it from the URL (:class:`pyreqwest.http.Url`'s
        ``host_str``), or the pin would not apply.
        """
        key = (host, address)
        client = self._pinned.get(key)
        if client is not None:
            self._pinned.move_to_end(key)
            return client
        client = self._builder().resolve(host, address, 0).build()
        self._pinned[key] = client
        while len(self._pinned) > self._max_clients:
            _, oldest = self._pinned.popitem(last=False)
            self._close_later(oldest)
        return client

    async def close(self) -> None:
        clients = list(self._pinned.values())
        if self._shared is not None:
            clients.append(self._shared)
        self._pinned.clear()
        self._shared = None
        closing = list(self._closing)
        for task in closing:
            task.cancel()  # each closes its client as it ends
        await asyncio.gather(*closing, return_exceptions=True)
        for client in clients:
            await client.close()

    def _builder(self) -> ClientBuilder:
        builder = ClientBuilder().no_proxy()
        if self._proxy is not None:
            builder = builder.proxy(ProxyBuilder.all(self._proxy))
        return (
            builder.follow_redirects(False)
            .https_only(self._https_only)
            .max_connections(self._max_connections)
            .timeout(timedelta(seconds=self._timeout))
            .pool_idle_timeout(IDLE_TIMEOUT)
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .default_cookie_store(False)
            .referer(False)
        )

    def _close_later(self, client: Client) -> None:
        """Close ``client`` after its requests in flight have run out of time."""

        async def close() -> None:
            try:
                await asyncio.sleep(self._timeout + 1)
            finally:
                await client.close()

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
