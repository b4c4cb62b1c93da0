"""Time: timezone-aware UTC everywhere, passed in where logic depends on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    """``2025-12-10T14:30:00Z``: ISO 8601, UTC, seconds precision, as the seeds print it (the
    year always in four digits, which ``strftime("%Y")`` does not promise)."""
    utc = moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    return utc.isoformat() + "Z"


def iso_z_ms(moment: datetime) -> str:
    """``2025-12-10T14:30:00.123Z``: for attempt logs, where milliseconds matter."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"
