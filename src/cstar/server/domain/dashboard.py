"""The dashboard's sessions and sign-in links: values and rules, no I/O."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

#: A session ends after this long without a request (and when its key is revoked).
SESSION_IDLE = timedelta(hours=12)
#: ``last_seen_at`` is written at most this often per session: not a write per page view.
TOUCH_EVERY = timedelta(minutes=1)
#: An operator's sign-in link works once, within this long.
LINK_VALIDITY = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class DashboardSession:
    token_hash: str
    team_id: str
    #: The secret key it was opened with; ``None`` when opened with an operator's link.
    key_id: str | None
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime

    def expired(self, now: datetime) -> bool:
        return now - self.last_seen_at > SESSION_IDLE

    def needs_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_EVERY


def new_token() -> str:
    """A random token for a cookie or a link: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored instead of a token: its SHA-256, so a database dump opens no session."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
