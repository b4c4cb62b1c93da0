"""Fixed-window rate limits, counted in the database so that they hold across API replicas.

A window of ``window_seconds`` starts at a multiple of that length (so every key's window resets
on the same clock tick, which makes ``X-RateLimit-Reset`` easy to reason about).

The count of each key and window is a row shared by every process (``store/rate_limits.py``).
A process does not go to the database for each request: it takes units from the window's count
in leases of ``lease_size`` (a hundredth of the limit, at least 1) and spends them in memory.
The database grants a lease only what is left of the limit, so however many replicas there are,
at most ``limit`` requests pass in a window; at most ``lease_size - 1`` units per replica go
unused at its end. Once a lease comes back empty, the process refuses that key until the window
ends without asking again: a flood of refused requests costs no database work.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass
from typing import Protocol

from cstar.server.config import RateLimit
from cstar.server.domain.clock import Clock

#: Keys a process keeps leases for; beyond it, a new key in the window asks the database for
#: every request (still counted exactly, with bounded memory).
MAX_TRACKED = 50_000
#: Longer keys (a forwarded address is whatever the proxy said) are counted by their hash.
MAX_KEY_CHARS = 100


class WindowLedger(Protocol):
    async def take(self, window_start: int, key: str, amount: int) -> int:
        """Add ``amount`` to the key's count in the window; the count after."""
        ...

    async def forget_before(self, window_start: int) -> int:
        """Delete the counts of windows that started before ``window_start``."""
        ...


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


@dataclass(slots=True)
class _Lease:
    """What this process holds of one key's count in one window."""

    start: int
    #: Units granted to this process and not yet spent.
    left: int = 0
    #: The key's count in the database after this process's last lease (all processes).
    counted: int = 0
    #: Set while a lease is being taken: other requests for the key wait for it.
    taking: asyncio.Future[None] | None = None


class SharedWindowLimiter:
    def __init__(
        self, rate: RateLimit, clock: Clock, ledger: WindowLedger, *, lease_size: int | None = None
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._ledger = ledger
        self._lease_size = lease_size or max(1, rate.limit // 100)
        self._leases: dict[str, _Lease] = {}
        #: The window in which old leases and old rows were last swept: once per window.
        self._swept: int | None = None

    @property
    def window_seconds(self) -> int:
        return self._rate.window_seconds

    @property
    def lease_size(self) -> int:
        return self._lease_size

    def _window(self) -> tuple[int, int, float]:
        now = self._clock().timestamp()
        start = int(now // self._rate.window_seconds) * self._rate.window_seconds
        return start, start + self._rate.window_seconds, now

    async def hit(self, key: str) -> Decision:
        """Count one request for ``key`` and say whether it is within the limit."""
        key = _bounded(key)
        start, end, now = self._window()
        if self._swept != start:
            await self._sweep(start)
        lease = self._leases.get(key)
        if lease is None or lease.start != start:
            if len(self._leases) >= MAX_TRACKED and key not in self._leases:
                return await self._hit_untracked(key, start, end, now)
            lease = self._leases[key] = _Lease(start)
        while lease.left == 0 and lease.counted < self._rate.limit:
            if lease.taking is not None:
                await asyncio.shield(lease.taking)
                continue
            await self._take(lease, key)
        if lease.left == 0:
            return self._decision(False, 0, end, now)
        lease.left -= 1
        return self._decision(True, self._remaining(lease), end, now)

    def blocked_for(self, key: str) -> int:
        """Seconds until ``key`` may try again, when this process knows its window is used up
        (its last lease came back short); else 0. Counts nothing."""
        lease = self._leases.get(_bounded(key))
        start, end, now = self._window()
        if lease is None or lease.start != start or lease.left or lease.counted < self._rate.limit:
            return 0
        return max(1, math.ceil(end - now))

    async def _take(self, lease: _Lease, key: str) -> None:
        taking = lease.taking = asyncio.get_running_loop().create_future()
        try:
            size = self._lease_size
            counted = await self._ledger.take(lease.start, key, size)
            granted = min(size, max(0, self._rate.limit - (counted - size)))
            lease.left += granted
            lease.counted = max(lease.counted, counted)
        finally:
            lease.taking = None
            taking.set_result(None)

    async def _hit_untracked(self, key: str, start: int, end: int, now: float) -> Decision:
        counted = await self._ledger.take(start, key, 1)
        allowed = counted <= self._rate.limit
        return self._decision(allowed, max(0, self._rate.limit - counted), end, now)

    def _remaining(self, lease: _Lease) -> int:
        return max(0, self._rate.limit - lease.counted) + lease.left

    def _decision(self, allowed: bool, remaining: int, end: int, now: float) -> Decision:
        return Decision(
            allowed=allowed,
            limit=self._rate.limit,
            remaining=remaining,
            reset_at=end,
            retry_after=0 if allowed else max(1, math.ceil(end - now)),
        )

    async def _sweep(self, start: int) -> None:
        """Forget leases of past windows, and delete the counts of windows before the last."""
        self._swept = start
        for key in [k for k, lease in self._leases.items() if lease.start != start]:
            if self._leases[key].taking is None:
                del self._leases[key]
        await self._ledger.forget_before(start - self._rate.window_seconds)


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY_CHARS:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
