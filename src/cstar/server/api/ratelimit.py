"""Fixed-window rate limits, kept in the memory of one API process.

A window of ``window_seconds`` starts at a multiple of that length (so every key's window resets
on the same clock tick, which makes ``X-RateLimit-Reset`` easy to reason about). With several API
replicas each enforces the limit on its own share of the traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cstar.server.config import RateLimit
from cstar.server.domain.clock import Clock

_MAX_TRACKED = 50_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    #: Unix time (seconds) at which the current window ends.
    reset_at: int
    #: Seconds until a request would be allowed again (0 when allowed).
    retry_after: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_at).encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after).encode()))
        return out


class FixedWindowLimiter:
    def __init__(self, rate: RateLimit, clock: Clock) -> None:
        self._rate = rate
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}
        #: Shared by new keys while the table is full of keys active in this window, so a flood
        #: of new keys never evicts (and so resets) anybody's count.
        self._overflow: tuple[int, int] = (0, 0)
        #: The window in which stale entries were last swept: at most one sweep per window.
        self._swept: int | None = None

    @property
    def window_seconds(self) -> int:
        return self._rate.window_seconds

    def _window(self) -> tuple[int, int, float]:
        now = self._clock().timestamp()
        start = int(now // self._rate.window_seconds) * self._rate.window_seconds
        return start, start + self._rate.window_seconds, now

    def _count(self, key: str, start: int) -> int:
        window_start, count = self._windows.get(key) or self._overflow_for(key)
        return count if window_start == start else 0

    def _overflow_for(self, key: str) -> tuple[int, int]:
        return self._overflow if len(self._windows) >= _MAX_TRACKED else (0, 0)

    def hit(self, key: str) -> Decision:
        """Count one request for ``key`` and say whether it is within the limit."""
        start, end, now = self._window()
        if key not in self._windows and len(self._windows) >= _MAX_TRACKED:
            self._forget_old(start)
        count = self._count(key, start) + 1
        if key in self._windows or len(self._windows) < _MAX_TRACKED:
            self._windows[key] = (start, count)
        else:
            self._overflow = (start, count)
        return self._decision(count, end, now)

    def blocked_for(self, key: str) -> int:
        """Seconds until ``key`` may try again once its window is used up, else 0 (no count)."""
        start, end, now = self._window()
        if self._count(key, start) < self._rate.limit:
            return 0
        return max(1, math.ceil(end - now))

    def _decision(self, count: int, end: int, now: float) -> Decision:
        allowed = count <= self._rate.limit
        return Decision(
            allowed=allowed,
            limit=self._rate.limit,
            remaining=max(0, self._rate.limit - count),
            reset_at=end,
            retry_after=0 if allowed else max(1, math.ceil(end - now)),
        )

    def _forget_old(self, current_start: int) -> None:
        if self._swept == current_start:
            return
        self._swept = current_start
        for key in [k for k, (s, _) in self._windows.items() if s != current_start]:
            del self._windows[key]
