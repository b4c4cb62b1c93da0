"""The realtime stream's client side without I/O: what to ask for, what each frame means,
when a failure is final, and how long to wait before reconnecting.

The server numbers every event (the SSE ``id``). A session remembers the last number it handed
on and sends it back as ``Last-Event-ID`` when it reconnects, so the server replays exactly what
was missed: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from httpx_sse import ServerSentEvent

from cstar import events as catalog
from cstar.sdk import _core
from cstar.sdk._config import ClientConfig
from cstar.sdk.errors import APIError, CStarError, RateLimitError
from cstar.webhook import WebhookEvent

#: Without a heartbeat (the server sends one every 15 s) for this long, the connection is dead.
READ_TIMEOUT = 60.0
MAX_RECONNECT_DELAY = 30.0


@dataclass(frozen=True, slots=True)
class RealtimeEvent:
    """One event from the stream: the same envelope a webhook delivery carries."""

    id: str
    type: str
    created_at: str
    team_id: str
    #: The event's data, with key and attribute access (``event.data.ticket.id``).
    data: WebhookEvent
    #: The exact envelope JSON, byte for byte what webhook deliveries send.
    raw: str
    #: The stream's number for this event (what ``Last-Event-ID`` resumes after).
    cursor: str

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def parse_patterns(patterns: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"ticket.*,customer.created"``, a list of them, or ``None``/``"*"`` for everything."""
    if patterns is None:
        return ()
    items = patterns.split(",") if isinstance(patterns, str) else list(patterns)
    cleaned = tuple(p.strip() for p in items if p.strip())
    for pattern in cleaned:
        if not catalog.is_valid_pattern(pattern):
            raise ValueError(
                f"Unknown event type or pattern: {pattern!r} "
                "(use an event name, a resource wildcard such as 'ticket.*', or '*')"
            )
    return () if "*" in cleaned else cleaned


def event_of(sse: ServerSentEvent) -> RealtimeEvent:
    body = json.loads(sse.data)
    return RealtimeEvent(
        id=body["id"],
        type=body["type"],
        created_at=body.get("created_at", ""),
        team_id=body.get("team_id", ""),
        data=WebhookEvent.wrap(body.get("data") or {}),
        raw=sse.data,
        cursor=sse.id,
    )


@dataclass
class StreamSession:
    config: ClientConfig
    patterns: tuple[str, ...] = ()
    last_event_id: str | None = None
    rand: Callable[[], float] = random.random
    #: Failed connection attempts since the last good one.
    failures: int = 0
    reconnect_ms: int = 1000
    connected: bool = field(default=False, init=False)

    @property
    def url(self) -> str:
        return _core.team_url(self.config, "events/stream")

    def params(self) -> dict[str, str]:
        return {"types": ",".join(self.patterns)} if self.patterns else {}

    def headers(self) -> dict[str, str]:
        headers = {**_core.auth_headers(self.config), "Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def opened(self) -> None:
        self.failures = 0
        self.connected = True

    def accept(self, sse: ServerSentEvent) -> RealtimeEvent | None:
        """The event a frame carries, or ``None`` for control frames (``retry:``, comments)."""
        if sse.retry is not None:
            self.reconnect_ms = sse.retry
        if not sse.data:
            return None
        try:
            event = event_of(sse)
        except (ValueError, KeyError, TypeError) as exc:
            raise APIError(f"The event stream sent a frame that is not an event: {exc!r}") from exc
        if sse.id:
            self.last_event_id = sse.id
        return event

    def dropped(self, error: CStarError | None = None) -> float:
        """The connection ended or failed: seconds to wait before the next attempt (at once
        the server's ``retry`` after a good connection, then backing off)."""
        first_after_good = self.connected and self.failures == 0
        self.connected = False
        self.failures += 1
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return min(error.retry_after, MAX_RECONNECT_DELAY * 4)
        if first_after_good:
            return self.reconnect_ms / 1000.0
        base = min(self.reconnect_ms / 1000.0 * 2.0 ** (self.failures - 1), MAX_RECONNECT_DELAY)
        return base * (1 - 0.25 * self.rand())


def is_final(error: CStarError) -> bool:
    """A refusal that reconnecting cannot fix: a bad key, a wrong team, a bad filter."""
    status = error.status or 0
    return 400 <= status < 500 and not isinstance(error, RateLimitError) and status != 408
