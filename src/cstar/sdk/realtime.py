"""``client.realtime``: every event of the team as it is published, over server-sent events.

::

    off = cstar.realtime.on("ticket.*", lambda event: print(event.type, event.id))
    ...
    off()            # unsubscribe; cstar.close() ends every subscription

    for event in cstar.realtime.stream("customer.created"):   # or ``async for`` (async client)
        ...

Each subscription holds its own connection, reconnects by itself when it drops (backing off
while the server is unreachable) and resumes after the last event it handed on, so a callback
sees every event once, in order. A refusal reconnecting cannot fix (a revoked key, an unknown
pattern) ends the subscription; ``subscription.error`` tells why.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

import httpx
from httpx_sse import EventSource

from cstar.sdk import _core
from cstar.sdk._config import ClientConfig
from cstar.sdk._stream import READ_TIMEOUT, RealtimeEvent, StreamSession, is_final, parse_patterns
from cstar.sdk.errors import CStarError

__all__ = [
    "AsyncRealtime",
    "AsyncSubscription",
    "Realtime",
    "RealtimeEvent",
    "Subscription",
]

log = logging.getLogger("cstar.sdk.realtime")

Patterns = str | Iterable[str] | None
_TIMEOUT = httpx.Timeout(10.0, read=READ_TIMEOUT)


def _failure(exc: Exception) -> CStarError:
    if isinstance(exc, CStarError):
        return exc
    if isinstance(exc, httpx.RequestError):
        return _core.connection_error(exc)
    return CStarError(str(exc) or type(exc).__name__)


class _Control:
    """What a running stream shares with whoever may stop it, from any thread."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.ready = threading.Event()
        self.error: CStarError | None = None
        self._lock = threading.Lock()
        self._response: httpx.Response | None = None

    def attach(self, response: httpx.Response | None) -> None:
        with self._lock:
            self._response = response

    def stop(self) -> None:
        self.stopped.set()
        with self._lock:
            response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()  # unblocks the reading thread


def _iterate(
    http: httpx.Client, session: StreamSession, control: _Control
) -> Iterator[RealtimeEvent]:
    while not control.stopped.is_set():
        failure: CStarError | None = None
        try:
            with http.stream(
                "GET", session.url, params=session.params(), headers=session.headers()
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise _core.error_of(response)
                control.attach(response)
                session.opened()
                control.ready.set()
                for sse in EventSource(response).iter_sse():
                    event = session.accept(sse)
                    if event is not None and not control.stopped.is_set():
                        yield event
        except (httpx.HTTPError, CStarError, OSError) as exc:
            if control.stopped.is_set():
                return
            failure = _failure(exc)
            if is_final(failure):
                control.error = failure
                control.ready.set()
                raise failure from exc
            log.info("realtime stream dropped (%s); reconnecting", failure)
        finally:
            control.attach(None)
        if control.stopped.wait(session.dropped(failure)):
            return


class Subscription:
    """What ``realtime.on`` returns: call it (or ``.close()``) to unsubscribe."""

    def __init__(
        self,
        config: ClientConfig,
        patterns: tuple[str, ...],
        callback: Callable[[RealtimeEvent], Any],
        *,
        last_event_id: str | None,
        on_close: Callable[[Subscription], None],
    ) -> None:
        self._session = StreamSession(config, patterns, last_event_id)
        self._callback = callback
        self._control = _Control()
        self._on_close = on_close
        self._http = httpx.Client(timeout=_TIMEOUT)
        self._thread = threading.Thread(target=self._run, name="cstar-realtime", daemon=True)
        self._thread.start()

    @property
    def last_event_id(self) -> str | None:
        """The cursor of the last event handed to the callback."""
        return self._session.last_event_id

    @property
    def error(self) -> CStarError | None:
        """Why the subscription ended by itself, if it did."""
        return self._control.error

    @property
    def active(self) -> bool:
        return self._thread.is_alive()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the stream is connected (events published from then on arrive), or the
        subscription ended with an ``error``; ``False`` if ``timeout`` passed first."""
        return self._control.ready.wait(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Block until the subscription ends (``off()``, ``close()``, or a final ``error``);
        ``False`` if ``timeout`` passed first."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            for event in _iterate(self._http, self._session, self._control):
                try:
                    self._callback(event)
                except Exception:
                    log.exception("realtime callback failed on %s %s", event.type, event.id)
        except CStarError as exc:
            log.warning("realtime subscription ended: %s", exc)
        finally:
            self._http.close()

    def close(self, timeout: float = 5.0) -> None:
        self._control.stop()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._on_close(self)

    __call__ = close


class Realtime:
    """``client.realtime`` of the sync client."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()

    def on(
        self,
        patterns: Patterns,
        callback: Callable[[RealtimeEvent], Any],
        *,
        last_event_id: str | None = None,
    ) -> Subscription:
        """Call ``callback`` (on a background thread) for every matching event."""
        subscription = Subscription(
            self._config,
            parse_patterns(patterns),
            callback,
            last_event_id=last_event_id,
            on_close=self._forget,
        )
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def stream(
        self, patterns: Patterns = None, *, last_event_id: str | None = None
    ) -> Iterator[RealtimeEvent]:
        """Every matching event, blocking, reconnecting as needed; ``break`` to stop."""
        session = StreamSession(self._config, parse_patterns(patterns), last_event_id)
        control = _Control()
        with httpx.Client(timeout=_TIMEOUT) as http:
            try:
                yield from _iterate(http, session, control)
            finally:
                control.stop()

    def _forget(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every subscription."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close()


async def _aiterate(
    http: httpx.AsyncClient, session: StreamSession, ready: asyncio.Event
) -> AsyncIterator[RealtimeEvent]:
    while True:
        failure: CStarError | None = None
        try:
            async with http.stream(
                "GET", session.url, params=session.params(), headers=session.headers()
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _core.error_of(response)
                session.opened()
                ready.set()
                async for sse in EventSource(response).aiter_sse():
                    event = session.accept(sse)
                    if event is not None:
                        yield event
        except (httpx.HTTPError, CStarError, OSError) as exc:
            failure = _failure(exc)
            if is_final(failure):
                raise failure from exc
            log.info("realtime stream dropped (%s); reconnecting", failure)
        await asyncio.sleep(session.dropped(failure))


class AsyncSubscription:
    """What ``realtime.on`` returns on the async client: call it to unsubscribe."""

    def __init__(
        self,
        config: ClientConfig,
        patterns: tuple[str, ...],
        callback: Callable[[RealtimeEvent], Any],
        *,
        last_event_id: str | None,
        on_close: Callable[[AsyncSubscription], None],
    ) -> None:
        self._session = StreamSession(config, patterns, last_event_id)
        self._callback = callback
        self._on_close = on_close
        self._ready = asyncio.Event()
        self.error: CStarError | None = None
        self._task = asyncio.create_task(self._run(), name="cstar-realtime")

    @property
    def last_event_id(self) -> str | None:
        return self._session.last_event_id

    @property
    def active(self) -> bool:
        return not self._task.done()

    async def wait_ready(self) -> None:
        """Until the stream is connected (wrap in ``asyncio.timeout`` to bound the wait)."""
        await self._ready.wait()

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
            try:
                async for event in _aiterate(http, self._session, self._ready):
                    try:
                        result = self._callback(event)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:
                        log.exception("realtime callback failed on %s %s", event.type, event.id)
            except CStarError as exc:
                self.error = exc
                self._ready.set()
                log.warning("realtime subscription ended: %s", exc)

    def close(self) -> None:
        """Unsubscribe (the connection closes at the next turn of the event loop)."""
        self._task.cancel()
        self._on_close(self)

    __call__ = close

    async def aclose(self) -> None:
        self.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class AsyncRealtime:
    """``client.realtime`` of the async client."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._subscriptions: set[AsyncSubscription] = set()

    def on(
        self,
        patterns: Patterns,
        callback: Callable[[RealtimeEvent], Awaitable[Any] | Any],
        *,
        last_event_id: str | None = None,
    ) -> AsyncSubscription:
        """Call ``callback`` (a function or a coroutine function) for every matching event.
        Needs a running event loop."""
        subscription = AsyncSubscription(
            self._config,
            parse_patterns(patterns),
            callback,
            last_event_id=last_event_id,
            on_close=self._subscriptions.discard,
        )
        self._subscriptions.add(subscription)
        return subscription

    async def stream(
        self, patterns: Patterns = None, *, last_event_id: str | None = None
    ) -> AsyncIterator[RealtimeEvent]:
        """Every matching event, reconnecting as needed: ``async for event in ...``."""
        session = StreamSession(self._config, parse_patterns(patterns), last_event_id)
        async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
            async for event in _aiterate(http, session, asyncio.Event()):
                yield event

    async def close(self) -> None:
        """End every subscription."""
        for subscription in list(self._subscriptions):
            await subscription.aclose()
