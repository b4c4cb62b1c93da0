"""API keys: authenticate a request, and list, create and revoke a team's keys."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from cstar.server.domain.clock import Clock
from cstar.server.domain.errors import (
    AuthenticationFailed,
    InvalidParameter,
    NotFound,
    PermissionDenied,
)
from cstar.server.domain.ids import is_key_id
from cstar.server.domain.keys import (
    check_may_create,
    clean_key_name,
    generate_key,
    hash_key,
    parse_key,
)
from cstar.server.domain.models import ApiKey, KeyKind, KeyMode
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.services.key_cache import KeyCache
from cstar.server.services.teams import key_record
from cstar.server.store.contract import RevokeOutcome, Store

INVALID_KEY_MESSAGE = "Invalid or expired API key"
SECRET_REQUIRED_MESSAGE = "Secret key required for this endpoint"  # noqa: S105
#: ``last_used_at`` is written at most this often per key and process: a write per request
#: would serialise every API call behind SQLite's single writer.
TOUCH_INTERVAL = timedelta(seconds=60)


class KeyService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        on_revoked: Callable[[str], None] | None = None,
        cache_ttl: float = 0.0,
    ) -> None:
        self._store = store
        self._clock = clock
        #: Keys recently found, for ``cache_ttl`` seconds (0: every request reads the store).
        self._cache = KeyCache(store.find_key_by_hash, ttl=cache_ttl)
        #: Told the id of every key this process revokes (it ends the key's realtime streams).
        self._on_revoked = on_revoked
        self._touched: dict[str, datetime] = {}

    async def authenticate(self, raw: str | None) -> ApiKey:
        if not raw:
            raise AuthenticationFailed(
                "Authentication required: send your API key as 'Authorization: Bearer sk_...'"
            )
        if parse_key(raw) is None:
            raise AuthenticationFailed(INVALID_KEY_MESSAGE)
        digest = hash_key(raw)
        key = await self._cache.find(digest)
        if key is None or not hmac.compare_digest(key.key_hash, digest) or not key.is_active:
            raise AuthenticationFailed(INVALID_KEY_MESSAGE)
        await self._touch(key)
        return key

    async def _touch(self, key: ApiKey) -> None:
        now = self._clock()
        last = self._touched.get(key.id) or key.last_used_at
        if last is not None and now - last < TOUCH_INTERVAL:
            return
        self._touched[key.id] = now
        if len(self._touched) > 10_000:
            self._touched.clear()
        await self._store.touch_key(key.id, now)

    @staticmethod
    def authorize(key: ApiKey, team_id: str, *, secret_required: bool) -> None:
        """The key must belong to the team in the path, and be a secret key where required."""
        if not hmac.compare_digest(key.team_id.encode(), team_id.encode()):
            raise PermissionDenied("This API key does not have access to this team")
        if secret_required and key.kind is not KeyKind.SECRET:
            raise PermissionDenied(SECRET_REQUIRED_MESSAGE)

    async def create(
        self,
        team_id: str,
        *,
        kind: KeyKind,
        mode: KeyMode,
        name: str | None,
        created_by: ApiKey | None = None,
        limit: int | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key, shown once. ``created_by``: the API key asking (an operator's command
        passes none); ``limit``: the most active keys the team may hold."""
        label = clean_key_name(name, kind)
        if created_by is not None:
            check_may_create(created_by.mode, mode)
        new = generate_key(kind, mode)
        record = key_record(team_id, new, label, self._clock)
        if not await self._store.insert_key(record, max_active=limit):
            raise InvalidParameter(
                None,
                f"This team already has {limit} active API keys, the most allowed "
                "(CSTAR_MAX_KEYS_PER_TEAM): revoke one before creating another",
            )
        return record, new.raw

    async def list(self, team_id: str, page: PageRequest) -> Page[ApiKey]:
        return await self._store.list_keys(team_id, page)

    async def revoke(self, team_id: str, key_id: str) -> ApiKey:
        if not is_key_id(key_id):
            raise NotFound("API key not found", param="keyId")
        outcome = await self._store.revoke_key(team_id, key_id, self._clock())
        if outcome is RevokeOutcome.NOT_FOUND:
            raise NotFound("API key not found", param="keyId")
        if outcome is RevokeOutcome.LAST_SECRET_KEY:
            raise InvalidParameter(
                "keyId",
                "This is the team's last active secret key; create another secret key "
                "before revoking it",
            )
        self._cache.forget(key_id)
        if self._on_revoked is not None:
            self._on_revoked(key_id)
        revoked = await self._store.get_key(team_id, key_id)
        if revoked is None:
            raise NotFound("API key not found", param="keyId")
        return revoked
