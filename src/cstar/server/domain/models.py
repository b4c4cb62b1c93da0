"""The objects the system keeps: plain frozen dataclasses, no I/O and no framework."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class KeyKind(StrEnum):
    SECRET = "secret"  # noqa: S105 - a key type
    PUBLISHABLE = "publishable"


class KeyMode(StrEnum):
    TEST = "test"
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: the key itself is never kept, only its SHA-256."""

    id: str
    team_id: str
    name: str
    kind: KeyKind
    mode: KeyMode
    #: The first characters of the key (``sk_test_AbCd``), for recognising it in lists.
    prefix: str
    last4: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class Webhook:
    """A registered endpoint. Secrets are held encrypted (see ``security.secretbox``)."""

    id: str
    team_id: str
    name: str
    url: str
    events: tuple[str, ...]
    is_active: bool
    secret_ciphertext: str
    created_at: datetime
    updated_at: datetime
    #: During a rotation's grace period the old secret keeps signing beside the new one.
    previous_secret_ciphertext: str | None = None
    previous_secret_expires_at: datetime | None = None
    #: Endpoint health: failures since the last success, and when that streak began.
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    last_delivery_at: datetime | None = None
    #: HTTP status of the last attempt (``None`` when it got no response).
    last_delivery_status: int | None = None
    last_delivery_success: bool | None = None
    #: Why and when the system (not a user) deactivated it.
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    #: Per-endpoint delivery controls (``domain/webhooks.py`` holds their rules).
    signature_scheme: str = "cstar"
    #: Custom headers, as stored: a JSON object encrypted like the secrets (``None``: none).
    headers_ciphertext: str | None = None
    #: The same headers in clear, filled in by ``WebhookService`` for whoever shows them.
    headers: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    #: Deliveries per second at most (``None``: no limit).
    rate_limit: int | None = None
    #: ``"none"`` or ``"fifo"``: one delivery at a time, in publish order.
    ordering: str = "none"
    #: Seconds one attempt may take (``None``: the server's delivery timeout).
    timeout_seconds: int | None = None
