"""The HTTP side of a delivery: one POST, pooled and kept alive, its outcome as a value.

pyreqwest, reqwest in Rust (:mod:`.clients`): measured in one run on this machine's benchmark
against nginx, one dispatcher delivered 6,080 and 6,371/s through aiohttp on uvloop and 10,020
and 9,578/s through it, every attempt logged (``bench/delivery.py``). Redirects are not
followed, and only a bounded prefix of each response is read.

Outside ``--dev`` no connection reaches a non-public address, however the URL spells its host:
1. the URL is read and normalised (:func:`~cstar.server.domain.targets.parse_target`); a host that
   is or names a non-public address is refused with a clear message, and so is a URL whose host
   the HTTP client would read differently;
2. a name is resolved here (:class:`~.resolver.SafeResolver`), never by the client: its non-public
   answers are dropped, and a name with none left is refused clearly;
3. each address is checked once more just before the client is pinned to it
   (:func:`~.resolver.dialable`), whatever resolver answered it, and the client then dials only
   that address for that host. IP literals are checked the same way.

With ``CSTAR_EGRESS_PROXY`` (a static-IP gateway) every request goes through that proxy, which
resolves the name and dials itself. Steps 1 and 2 still run, stricter: a name is sent to the
proxy only when every address it resolves to is public, since the proxy, not this process,
chooses among them. An operator who wants the last word also there can make the proxy refuse
private ranges (the README says how).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from pyreqwest.client import Client
from pyreqwest.exceptions import (
    ConnectError,
    PyreqwestError,
    ReadError,
    RequestTimeoutError,
)
from pyreqwest.http import Url
from pyreqwest.response import ResponseBodyReader

from cstar.server.dispatch.clients import Clients
from cstar.server.dispatch.resolver import Resolver, SafeResolver, TargetRefused, dialable
from cstar.server.domain.addresses import IPAddress
from cstar.server.domain.targets import InvalidTarget, parse_target
from cstar.server.domain.webhooks import TIMEOUT_MAX as MAX_ENDPOINT_TIMEOUT

#: How long a URL's reading and its host's addresses are reused before they are looked up again.
ROUTE_TTL = 30.0
MAX_ROUTES = 4096


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened to one POST."""

    status_code: int | None
    duration_ms: int
    response_body: str | None
    error: str | None
    retry_after: str | None = None

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class _Route:
    """Where one URL goes: the URL as the client reads it, and the addresses to dial for it."""

    url: Url
    host: str
    #: ``None``: the client needs no address (an IP literal, or any host in ``--dev``).
    addresses: tuple[str, ...] | None
    expires: float


class _NotConnected(Exception):
    """No connection could be made to one of a host's addresses."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.error)
        self.result = result


class _Failed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Sender:
    """Posts deliveries: :meth:`start` (in a running loop) readies it, :meth:`close` ends it."""

    def __init__(
        self,
        *,
        timeout: float,
        max_response_bytes: int,
        allow_private: bool,
        pool_size: int = 256,
        resolver: Resolver | None = None,
        proxy: str | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        self._allow_private = allow_private
        #: Through the egress proxy the proxy dials, by name: nothing is pinned.
        self._proxied = proxy is not None
        # In --dev the client resolves names itself, unless a resolver is given (tests pin a
        # name to an address that way); outside --dev names are always resolved and checked here
        # (through the proxy, every address of a name must be public).
        self._resolver: Resolver | None = resolver
        if self._proxied and not allow_private:
            self._resolver = SafeResolver(resolver, strict=True)
        elif resolver is None and not allow_private:
            self._resolver = SafeResolver()
        self._clients = Clients(
            # The longest any request may take: each request carries its own timeout.
            timeout=max(timeout, MAX_ENDPOINT_TIMEOUT),
            max_connections=pool_size,
            https_only=not allow_private,
            proxy=proxy,
        )
        self._routes: OrderedDict[str, _Route] = OrderedDict()
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        self._started = False
        self._routes.clear()
        await self._clients.close()

    async def send(
        self, url: str, body: bytes, headers: Mapping[str, str], *, time_limit: float | None = None
    ) -> SendResult:
        """POST ``body`` to ``url`` within ``time_limit`` seconds (DNS lookup included; ``None``:
        the sender's). Never raises for what a URL or its endpoint does."""
        started = time.perf_counter()
        limit = self._timeout if time_limit is None else min(time_limit, MAX_ENDPOINT_TIMEOUT)

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        if not self._started:
            raise RuntimeError("Sender.start() was not called")
        try:
            route = await self._route(url, limit)
        except InvalidTarget as exc:
            return SendResult(None, elapsed(), None, f"refused: {exc.message}")
        except TargetRefused as exc:
            return SendResult(None, elapsed(), None, str(exc))
        except _Failed as exc:
            return SendResult(None, elapsed(), None, exc.error)
        if route.addresses is None:
            try:
                return await self._post(
                    self._clients.shared(), route.url, body, headers, started, limit
                )
            except _NotConnected as exc:
                return exc.result
        result = SendResult(None, elapsed(), None, "no address to connect to")
        for address in route.addresses:
            try:
                checked = address if self._allow_private else dialable(address)
                client = self._clients.pinned(route.host, checked)
            except TargetRefused as exc:
                return SendResult(None, elapsed(), None, str(exc))
            try:
                return await self._post(client, route.url, body, headers, started, limit)
            except _NotConnected as exc:  # nothing was sent: the next address may answer
                result = exc.result
        return result

    async def _route(self, text: str, limit: float) -> _Route:
        now = time.monotonic()
        route = self._routes.get(text)
        if route is not None and route.expires > now:
            self._routes.move_to_end(text)
            return route
        target = parse_target(text, dev=self._allow_private)
        url, host, literal = _as_client_reads(str(target), target.raw_host or "")
        addresses: tuple[str, ...] | None = None
        if literal is not None and not self._allow_private:
            dialable(str(literal))
        elif literal is None and self._resolver is not None:
            port = url.port_or_known_default or 443
            try:
                async with asyncio.timeout(limit):
                    addresses = tuple(await self._resolver.resolve(host, port))
            except TimeoutError:
                raise _Failed(f"DNS lookup for {host} timed out after {limit:g}s") from None
            except socket.gaierror:
                raise _Failed(f"DNS lookup failed for {host}") from None
        if self._proxied:
            addresses = None  # checked above; the proxy resolves the name and dials
        route = _Route(url, host, addresses, now + ROUTE_TTL)
        self._routes[text] = route
        self._routes.move_to_end(text)
        while len(self._routes) > MAX_ROUTES:
            self._routes.popitem(last=False)
        return route

    async def _post(
        self,
        client: Client,
        url: Url,
        body: bytes,
        headers: Mapping[str, str],
        started: float,
        limit: float,
    ) -> SendResult:
        left = limit - (time.perf_counter() - started)
        try:
            request = (
                client.post(url)
                .headers(dict(headers))
                .body_bytes(body)
                .timeout(timedelta(seconds=max(left, 0.001)))
                # Hand over each chunk as it arrives, not once a larger buffer is full.
                .streamed_read_buffer_limit(1)
                .build_streamed()
            )
            async with request as response:
                status = response.status
                retry_after = response.get_header("Retry-After")
                location = response.get_header("Location")
                prefix = await self._read_prefix(response.body_reader)
                # Leaving without reading the rest drops the connection: a large body is
                # never drained.
        except RequestTimeoutError:
            return SendResult(None, _ms(started), None, f"timed out after {limit:g}s")
        except PyreqwestError as exc:
            failed = SendResult(None, _ms(started), None, _describe(exc))
            if isinstance(exc, ConnectError) and _never_connected(exc):
                raise _NotConnected(failed) from None
            return failed
        except ValueError as exc:  # pragma: no cover - a header the client refuses
            return SendResult(None, _ms(started), None, f"request failed: {exc}")
        error = None
        if 300 <= status < 400:
            error = f"redirect not followed (status {status}" + (
                f", Location: {location})" if location else ")"
            )
        elif not 200 <= status < 300:
            error = f"endpoint answered {status}"
        return SendResult(status, _ms(started), prefix, error, retry_after)

    async def _read_prefix(self, reader: ResponseBodyReader) -> str:
        limit = self._max_response_bytes
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await reader.read_chunk()
            if chunk is None:
                break
            data = bytes(chunk)
            chunks.append(data[: limit - size])
            size += len(data)
        return b"".join(chunks).decode("utf-8", errors="replace")


def _as_client_reads(text: str, host: str) -> tuple[Url, str, IPAddress | None]:
    """``text`` as the HTTP client reads it: its URL, host, and IP address if it is a literal.

    Refuses a URL whose host the client reads differently from :func:`parse_target`: then the
    host that was judged would not be the host dialled.
    """
    try:
        url = Url(text)
    except (PyreqwestError, ValueError):
        raise InvalidTarget("url is not a valid URL") from None
    client_host = url.host_str or ""
    literal = _ip(client_host.removeprefix("[").removesuffix("]"))
    same = literal == _ip(host) if literal is not None else client_host == host
    if not same:
        raise InvalidTarget(
            f"url host {host} is read as {client_host or 'no host'} by the HTTP client"
        )
    return url, client_host, literal


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _describe(exc: PyreqwestError) -> str:
    """What went wrong, in the words of the innermost cause reqwest gives."""
    causes = [str(c.get("message", "")) for c in _causes(exc)]
    detail = causes[-1] if causes else str(exc)
    detail = detail.split(" (os error", 1)[0]
    text = " ".join(causes).lower()
    if "certificate" in text or "invalidcertificate" in text:
        return f"TLS certificate verification failed: {detail}"
    if "tls" in text or "handshake" in text:
        return f"TLS handshake failed: {detail}"
    if "dns error" in text:
        return f"DNS lookup failed: {detail}"
    if isinstance(exc, ConnectError):
        if "reset" in text or "incompletemessage" in text or "closed" in text:
            return "the endpoint closed the connection without answering"
        return f"connection failed: {detail}"
    if isinstance(exc, ReadError):
        return f"the response could not be read: {detail}"
    return f"request failed: {type(exc).__name__}: {detail}"


def _never_connected(exc: ConnectError) -> bool:
    return any("tcp connect error" in str(c.get("message", "")) for c in _causes(exc))


def _causes(exc: PyreqwestError) -> list[dict[str, object]]:
    details = getattr(exc, "details", None)
    if isinstance(details, dict):
        causes = details.get("causes")
        if isinstance(causes, list):
            return [c for c in causes if isinstance(c, dict)]
    return []
