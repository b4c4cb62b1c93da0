"""Signing in to the dashboard: with a secret key, or an operator's one-time link; sessions that
live on the server, end on sign-out, on revocation of their key, or after 12 hours idle."""

from __future__ import annotations

import secrets

from cstar.server.domain.clock import Clock
from cstar.server.domain.dashboard import (
    LINK_VALIDITY,
    SESSION_IDLE,
    DashboardSession,
    new_token,
    token_hash,
)
from cstar.server.domain.errors import AuthenticationFailed, PermissionDenied
from cstar.server.domain.models import KeyKind
from cstar.server.services.keys import KeyService
from cstar.server.store.contract import DashboardStore

PUBLISHABLE_REFUSED = (
    "This is a publishable key. Sign in with a secret key (sk_test_… or sk_live_…)"
)


class DashboardSessions:
    def __init__(self, store: DashboardStore, keys: KeyService, clock: Clock) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock

    async def sign_in(self, raw_key: str) -> str:
        """A new session for the key's team; the cookie's token. A missing, unknown or revoked
        key is :class:`AuthenticationFailed`, a publishable one :class:`PermissionDenied`."""
        key = await self._keys.authenticate(raw_key.strip() or None)
        if key.kind is not KeyKind.SECRET:
            raise PermissionDenied(PUBLISHABLE_REFUSED)
        return await self._open(key.team_id, key.id)

    async def create_link(self, team_id: str) -> str:
        """A one-time sign-in link's token (``cstar admin dashboard-link``)."""
        token = new_token()
        now = self._clock()
        await self._store.insert_link(
            token_hash(token), team_id, now=now, expires_at=now + LINK_VALIDITY
        )
        return token

    async def open_link(self, token: str) -> str:
        """Use a link (once): a new session's token, or :class:`AuthenticationFailed`."""
        team_id = await self._store.use_link(token_hash(token), self._clock())
        if team_id is None:
            raise AuthenticationFailed(
                "This sign-in link is not valid: it was used already, has expired (after 15 "
                "minutes), or never existed. Ask for a new one, or sign in with a secret key."
            )
        return await self._open(team_id, None)

    async def resolve(self, token: str | None) -> DashboardSession | None:
        """The live session of a cookie's token, else ``None`` (an idle one is ended)."""
        if not token:
            return None
        hashed = token_hash(token)
        session = await self._store.find_session(hashed)
        if session is None:
            return None
        now = self._clock()
        if session.expired(now):
            await self._store.delete_session(hashed)
            return None
        if session.needs_touch(now):
            await self._store.touch_session(hashed, now)
        return session

    async def sign_out(self, token: str | None) -> None:
        if token:
            await self._store.delete_session(token_hash(token))

    async def _open(self, team_id: str, key_id: str | None) -> str:
        token = new_token()
        now = self._clock()
        # Each sign-in sweeps out idle sessions and dead links: the tables stay small.
        await self._store.purge_sessions(idle_since=now - SESSION_IDLE)
        await self._store.insert_session(
            DashboardSession(
                token_hash=token_hash(token),
                team_id=team_id,
                key_id=key_id,
                csrf_token=secrets.token_urlsafe(24),
                created_at=now,
                last_seen_at=now,
            )
        )
        return token
