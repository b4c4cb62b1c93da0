"""A dependency (the database, a LISTEN connection) as a background loop sees it: reachable, or
lost since some moment.

While it is lost every failed try waits longer than the one before, exponentially from ``first``
to ``cap``, with jitter so that many processes do not retry in step. The log gets one line when
it is lost and one when it is back, not one per try: an outage of an hour is two lines.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable


class Outage:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        first: float = 0.1,
        cap: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._log = log
        self._what = what
        self._first = first
        self._cap = cap
        self._monotonic = monotonic
        self._jitter = jitter
        self._since: float | None = None
        self._tries = 0

    @property
    def lost(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException | str) -> float:
        """Count a failed try; how long to wait before the next one."""
        if self._since is None:
            self._since = self._monotonic()
            self._tries = 0
            self._log.error(
                "%s is unavailable (%s); retrying with backoff, up to every %gs",
                self._what,
                _brief(error),
                self._cap,
            )
        self._tries += 1
        ceiling = min(self._cap, self._first * 2.0 ** min(self._tries - 1, 32))
        # Half fixed, half random: never a burst of immediate retries, never in step.
        return ceiling * (0.5 + 0.5 * self._jitter())

    def recovered(self) -> None:
        """A try succeeded: say so once if the dependency had been lost."""
        if self._since is None:
            return
        self._log.warning(
            "%s is reachable again after %.1fs (%d failed tries)",
            self._what,
            self._monotonic() - self._since,
            self._tries,
        )
        self._since = None


def _brief(error: BaseException | str) -> str:
    """The first line of an error, shortened: driver errors carry their SQL and parameters."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
