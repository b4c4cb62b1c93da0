"""When to send a request again, and after how long: pure functions, no sleeping.

- 429 is always retried: the API refused before doing anything.
- A connection that was never made (connect error or timeout, no free pooled connection) is
  always retried: the request never left.
- A 5xx, or a connection that broke after the request was sent, is retried only when the
  operation is ``retry_safe`` (sending it twice does what sending it once does).

The delay is the answer's ``Retry-After`` (seconds or an HTTP date) when it has one, capped at
``max_retry_after``; otherwise exponential backoff with jitter: ``initial_delay * 2**n``, capped
at ``max_delay``, minus up to a quarter at random.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

#: Failures that happen before any byte of the request is sent.
NEVER_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)

DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: Retries after the first attempt (0: never retry).
    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = 0.5
    max_delay: float = 8.0
    #: The longest ``Retry-After`` honoured; a longer one is cut to this.
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError("max_retries must be an integer")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.initial_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays must be 0 or more")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: ``"5"``, ``"1.5"`` or an HTTP date; else ``None``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff(policy: RetryPolicy, retries_done: int, *, rand: Callable[[], float]) -> float:
    """The delay before retry number ``retries_done + 1`` when the API named none."""
    base = min(policy.initial_delay * 2.0**retries_done, policy.max_delay)
    return base * (1 - 0.25 * rand())


def is_retryable(
    *, retry_safe: bool, response: httpx.Response | None = None, error: Exception | None = None
) -> bool:
    """Whether this outcome may be retried at all (the number of retries left aside)."""
    if response is not None:
        if response.status_code == 429:
            return True
        return retry_safe and response.status_code >= 500
    if isinstance(error, NEVER_SENT):
        return True
    return retry_safe and isinstance(error, httpx.TransportError)


def retry_delay(
    policy: RetryPolicy,
    retries_done: int,
    *,
    retry_safe: bool,
    response: httpx.Response | None = None,
    error: Exception | None = None,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before sending again, or ``None`` to stop and report this outcome."""
    if retries_done >= policy.max_retries:
        return None
    if not is_retryable(retry_safe=retry_safe, response=response, error=error):
        return None
    if response is not None:
        asked = parse_retry_after(response.headers.get("retry-after"), now=now)
        if asked is not None:
            return min(asked, policy.max_retry_after)
    return backoff(policy, retries_done, rand=rand)
