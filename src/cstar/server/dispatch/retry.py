"""The retry policy as a value: when the next attempt is due, if any.

Delays follow the configured schedule (about three days by default) with +/-20 % jitter, so that
endpoints that failed together do not all retry in the same instant. A ``Retry-After`` on a 429
or 503 is honoured when it asks for longer, up to a bound.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: The longest a ``Retry-After`` may push an attempt back.
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    delays: tuple[float, ...]
    jitter: float = 0.2

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def next_delay(
        self,
        retry_index: int,
        *,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds until the next attempt after ``retry_index`` failed attempts in this round,
        or ``None`` when the schedule is used up."""
        if retry_index < 1 or retry_index > len(self.delays):
            return None
        base = self.delays[retry_index - 1]
        delay = base * (1 - self.jitter + 2 * self.jitter * rand())
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date; ``None`` if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
