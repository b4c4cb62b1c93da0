"""The storage contract every backend fulfils.

Services depend on this protocol only. ``tests/contract`` runs one suite against each backend
(SQLite and PostgreSQL) so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from cstar.server.domain.models import ApiKey, KeyKind, Team, Webhook
from cstar.server.domain.pagination import Page, PageRequest


class StoreError(Exception):
    """The database failed in a way the caller cannot fix (driver errors are wrapped in this)."""


class RevokeOutcome(Enum):
    REVOKED = "revoked"
    NOT_FOUND = "not_found"
    ALREADY_REVOKED = "already_revoked"
    LAST_SECRET_KEY = "last_secret_key"  # noqa: S105


@dataclass(frozen=True, slots=True)
class WebhookChanges:
    """Fields of a webhook to change; ``None`` leaves a field as it is."""

    name: str | None = None
    url: str | None = None
    events: tuple[str, ...] | None = None
    is_active: bool | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in (self.name, self.url, self.events, self.is_active))


class Store(Protocol):
    # -- operator metadata -------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None: ...

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` unless the key exists; return what is stored (race-safe)."""
        ...

    async def ping(self) -> None: ...

    # -- teams -------------------------------------------------------------------------------
    async def create_team(self, team: Team, keys: Sequence[ApiKey]) -> None:
        """Create a team and its first keys in one transaction."""
        ...

    async def get_team(self, team_id: str) -> Team | None: ...

    async def list_teams(self) -> list[Team]: ...

    async def count_teams(self) -> int: ...

    # -- API keys ----------------------------------------------------------------------------
    async def insert_key(self, key: ApiKey) -> None: ...

    async def find_key_by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def get_key(self, team_id: str, key_id: str) -> ApiKey | None: ...

    async def list_keys(self, team_id: str, page: PageRequest) -> Page[ApiKey]: ...

    async def revoke_key(self, team_id: str, key_id: str, now: datetime) -> RevokeOutcome:
        """Revoke a key, refusing to revoke the team's last active secret key."""
        ...

    async def count_active_keys(self, team_id: str, kind: KeyKind) -> int: ...

    async def touch_key(self, key_id: str, now: datetime) -> None:
        """Record that a key was used."""
        ...

    # -- webhooks ----------------------------------------------------------------------------
    async def insert_webhook(self, webhook: Webhook) -> None: ...

    async def get_webhook(self, team_id: str, webhook_id: str) -> Webhook | None: ...

    async def list_webhooks(
        self, team_id: str, *, active: bool | None, page: PageRequest
    ) -> Page[Webhook]: ...

    async def update_webhook(
        self, team_id: str, webhook_id: str, changes: WebhookChanges, now: datetime
    ) -> Webhook | None:
        """Apply ``changes`` in one statement (no lost updates); ``None`` if there is no such."""
        ...

    async def rotate_secret(
        self,
        team_id: str,
        webhook_id: str,
        new_secret_ciphertext: str,
        previous_expires_at: datetime | None,
        now: datetime,
    ) -> Webhook | None:
        """Install a new secret. With ``previous_expires_at`` the current secret stays valid
        beside it until then; without, it stops at once."""
        ...

    async def delete_webhook(self, team_id: str, webhook_id: str) -> bool: ...

    async def subscribed_webhooks(self, team_id: str, event_type: str) -> list[Webhook]:
        """Active webhooks of the team whose subscriptions match ``event_type``."""
        ...
