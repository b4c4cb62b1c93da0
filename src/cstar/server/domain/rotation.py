"""Which secrets sign a delivery: the current one, and the previous one during its grace period."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime


def signing_secrets(
    current: str,
    previous: str | None,
    previous_expires_at: datetime | None,
    *,
    now: datetime,
    decrypt: Callable[[str], str],
) -> tuple[str, ...]:
    """Decrypted secrets in signing order: the current one first, then the previous one while
    its grace period lasts (so parsers that keep only the last ``v1`` verify with the old one)."""
    if previous and previous_expires_at is not None and previous_expires_at > now:
        return (decrypt(current), decrypt(previous))
    return (decrypt(current),)
