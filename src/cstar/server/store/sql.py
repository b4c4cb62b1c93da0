"""The management half of the storage contract: teams, keys, webhooks and their subscriptions.

Written with SQLAlchemy Core as synchronous transaction functions, run by the database. The few
statements that differ by database (a row lock, an insert that tolerates a conflict) are the
backend's (``store/backend.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.domain.models import ApiKey, KeyKind, KeyMode, Team, Webhook
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.domain.webhooks import FIFO
from cstar.server.store.backend import Backend
from cstar.server.store.base import SqlBase
from cstar.server.store.contract import UNCHANGED, RevokeOutcome, WebhookChanges
from cstar.server.store.database import Database
from cstar.server.store.schema import (
    UTCDateTime,
    api_keys,
    deliveries,
    events,
    meta,
    teams,
    webhook_pacing,
    webhook_subscriptions,
    webhooks,
)

_T = TypeVar("_T", ApiKey, Webhook)


class SqlStore(SqlBase):
    """The management half of the storage contract."""

    def __init__(self, database: Database, backend: Backend) -> None:
        super().__init__(database)
        self._backend = backend

    # -- operator metadata -------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        def work(conn: Connection) -> str | None:
            value = conn.scalar(sa.select(meta.c.value).where(meta.c.key == key))
            return None if value is None else str(value)

        return await self._read(work)

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        def work(conn: Connection) -> str:
            current = conn.scalar(sa.select(meta.c.value).where(meta.c.key == key))
            if current is not None:
                return str(current)
            if self._backend.insert_meta(conn, key, value):
                return value
            # Another process inserted it since (PostgreSQL; SQLite's writers never overlap).
            return str(conn.scalar(sa.select(meta.c.value).where(meta.c.key == key)))

        return await self._write(work)

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar())

    # -- teams -------------------------------------------------------------------------------
    async def create_team(self, team: Team, keys: Sequence[ApiKey]) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                teams.insert().values(id=team.id, name=team.name, created_at=team.created_at)
            )
            if keys:
                conn.execute(api_keys.insert(), [_key_values(k) for k in keys])

        await self._write(work)

    async def create_first_team(self, team: Team, keys: Sequence[ApiKey], *, marker: str) -> bool:
        def work(conn: Connection) -> bool:
            if not self._backend.insert_meta(conn, marker, team.id):
                return False
            conn.execute(
                teams.insert().values(id=team.id, name=team.name, created_at=team.created_at)
            )
            if keys:
                conn.execute(api_keys.insert(), [_key_values(k) for k in keys])
            return True

        return await self._write(work)

    async def get_team(self, team_id: str) -> Team | None:
        def work(conn: Connection) -> Team | None:
            row = conn.execute(sa.select(teams).where(teams.c.id == team_id)).first()
            return (
                None if row is None else Team(id=row.id, name=row.name, created_at=row.created_at)
            )

        return await self._read(work)

    async def list_teams(self) -> list[Team]:
        def work(conn: Connection) -> list[Team]:
            rows = conn.execute(sa.select(teams).order_by(teams.c.created_at, teams.c.id))
            return [Team(id=r.id, name=r.name, created_at=r.created_at) for r in rows]

        return await self._read(work)

    async def count_teams(self) -> int:
        return await self._read(
            lambda conn: int(conn.scalar(sa.select(sa.func.count()).select_from(teams)) or 0)
        )

    def _below(self, conn: Connection, team_id: str, count: sa.Select[Any], limit: int) -> bool:
        """Whether ``count`` (rows of the team) is below ``limit``, inside a write transaction
        that then inserts one more. Race-free: PostgreSQL serialises the team's inserts on a
        lock of its row (as revocations do); SQLite's writer transactions never overlap."""
        self._backend.lock_team(conn, team_id)
        return int(conn.scalar(count) or 0) < limit

    # -- API keys ----------------------------------------------------------------------------
    async def insert_key(self, key: ApiKey, *, max_active: int | None = None) -> bool:
        active = (
            sa.select(sa.func.count())
            .select_from(api_keys)
            .where(api_keys.c.team_id == key.team_id, api_keys.c.revoked_at.is_(None))
        )

        def work(conn: Connection) -> bool:
            if max_active is not None and not self._below(conn, key.team_id, active, max_active):
                return False
            conn.execute(api_keys.insert().values(**_key_values(key)))
            return True

        return await self._write(work)

    async def find_key_by_hash(self, key_hash: str) -> ApiKey | None:
        def work(conn: Connection) -> ApiKey | None:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
            return None if row is None else _key_from_row(row)

        return await self._read(work)

    async def get_key(self, team_id: str, key_id: str) -> ApiKey | None:
        def work(conn: Connection) -> ApiKey | None:
            row = conn.execute(
                sa.select(api_keys).where(api_keys.c.team_id == team_id, api_keys.c.id == key_id)
            ).first()
            return None if row is None else _key_from_row(row)

        return await self._read(work)

    async def list_keys(self, team_id: str, page: PageRequest) -> Page[ApiKey]:
        query = _paginate(sa.select(api_keys).where(api_keys.c.team_id == team_id), api_keys, page)

        def work(conn: Connection) -> Page[ApiKey]:
            return _page([_key_from_row(r) for r in conn.execute(query)], page)

        return await self._read(work)

    async def revoke_key(self, team_id: str, key_id: str, now: datetime) -> RevokeOutcome:
        def work(conn: Connection) -> RevokeOutcome:
            # Serialise revocations within a team so one secret key always remains.
            self._backend.lock_team(conn, team_id)
            row = conn.execute(
                sa.select(api_keys.c.kind, api_keys.c.revoked_at).where(
                    api_keys.c.team_id == team_id, api_keys.c.id == key_id
                )
            ).first()
            if row is None:
                return RevokeOutcome.NOT_FOUND
            if row.revoked_at is not None:
                return RevokeOutcome.ALREADY_REVOKED
            if row.kind == KeyKind.SECRET.value:
                remaining = conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(api_keys)
                    .where(
                        api_keys.c.team_id == team_id,
                        api_keys.c.kind == KeyKind.SECRET.value,
                        api_keys.c.revoked_at.is_(None),
                    )
                )
                if (remaining or 0) <= 1:
                    return RevokeOutcome.LAST_SECRET_KEY
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=now))
            return RevokeOutcome.REVOKED

        return await self._write(work)

    async def count_active_keys(self, team_id: str, kind: KeyKind) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(api_keys)
            .where(
                api_keys.c.team_id == team_id,
                api_keys.c.kind == kind.value,
                api_keys.c.revoked_at.is_(None),
            )
        )
        return await self._read(lambda conn: int(conn.scalar(query) or 0))

    async def touch_key(self, key_id: str, now: datetime) -> None:
        await self._write(
            lambda conn: conn.execute(
                api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=now)
            )
        )

    # -- webhooks ----------------------------------------------------------------------------
    async def insert_webhook(self, webhook: Webhook, *, max_per_team: int | None = None) -> bool:
        existing = (
            sa.select(sa.func.count())
            .select_from(webhooks)
            .where(webhooks.c.team_id == webhook.team_id)
        )

        def work(conn: Connection) -> bool:
            if max_per_team is not None and not self._below(
                conn, webhook.team_id, existing, max_per_team
            ):
                return False
            conn.execute(
                webhooks.insert().values(
                    id=webhook.id,
                    team_id=webhook.team_id,
                    name=webhook.name,
                    url=webhook.url,
                    events=list(webhook.events),
                    is_active=webhook.is_active,
                    secret_ciphertext=webhook.secret_ciphertext,
                    previous_secret_ciphertext=webhook.previous_secret_ciphertext,
                    previous_secret_expires_at=webhook.previous_secret_expires_at,
                    created_at=webhook.created_at,
                    updated_at=webhook.updated_at,
                    signature_scheme=webhook.signature_scheme,
                    headers_ciphertext=webhook.headers_ciphertext,
                    rate_limit=webhook.rate_limit,
                    ordering=webhook.ordering,
                    timeout_seconds=webhook.timeout_seconds,
                )
            )
            conn.execute(webhook_pacing.insert().values(webhook_id=webhook.id))
            _replace_subscriptions(conn, webhook.team_id, webhook.id, webhook.events)
            return True

        return await self._write(work)

    async def get_webhook(self, team_id: str, webhook_id: str) -> Webhook | None:
        return await self._read(lambda conn: _get_webhook(conn, team_id, webhook_id))

    async def list_webhooks(
        self, team_id: str, *, active: bool | None, page: PageRequest
    ) -> Page[Webhook]:
        query = sa.select(webhooks).where(webhooks.c.team_id == team_id)
        if active is not None:
            query = query.where(webhooks.c.is_active == active)
        query = _paginate(query, webhooks, page)

        def work(conn: Connection) -> Page[Webhook]:
            return _page([_webhook_from_row(r) for r in conn.execute(query)], page)

        return await self._read(work)

    async def update_webhook(
        self, team_id: str, webhook_id: str, changes: WebhookChanges, now: datetime
    ) -> Webhook | None:
        values: dict[str, Any] = {"updated_at": now}
        if changes.name is not None:
            values["name"] = changes.name
        if changes.url is not None:
            values["url"] = changes.url
        if changes.events is not None:
            values["events"] = list(changes.events)
        if changes.is_active is not None:
            values["is_active"] = changes.is_active
            if changes.is_active:
                # A user re-enabling a webhook starts a fresh health record.
                values.update(disabled_reason=None, disabled_at=None, failing_since=None)
        if changes.signature_scheme is not None:
            values["signature_scheme"] = changes.signature_scheme
        if changes.headers_ciphertext is not None or changes.clear_headers:
            values["headers_ciphertext"] = changes.headers_ciphertext
        if changes.rate_limit is not UNCHANGED:
            values["rate_limit"] = changes.rate_limit
        if changes.ordering is not None:
            values["ordering"] = changes.ordering
        if changes.timeout_seconds is not UNCHANGED:
            values["timeout_seconds"] = changes.timeout_seconds

        def work(conn: Connection) -> Webhook | None:
            before = conn.execute(
                sa.select(webhooks.c.ordering, webhooks.c.rate_limit).where(
                    webhooks.c.team_id == team_id, webhooks.c.id == webhook_id
                )
            ).first()
            result = conn.execute(
                webhooks.update()
                .where(webhooks.c.team_id == team_id, webhooks.c.id == webhook_id)
                .values(**values)
            )
            if result.rowcount == 0:
                return None
            if changes.events is not None:
                _replace_subscriptions(conn, team_id, webhook_id, changes.events)
            if changes.is_active is not None:
                set_deliveries_paused(conn, [webhook_id], paused=not changes.is_active)
                if changes.is_active:  # its paused deliveries are due: tell idle workers
                    self._backend.wake_workers(conn)
            updated = _get_webhook(conn, team_id, webhook_id)
            # The update found the row: it was there before and is there after.
            assert before is not None
            assert updated is not None
            waiting = waits_its_turn(updated.ordering, updated.rate_limit)
            if waits_its_turn(*before) != waiting:
                set_waiting(conn, webhook_id, waiting=waiting, now=now)
                self._backend.wake_workers(conn)
            return updated

        return await self._write(work)

    async def rotate_secret(
        self,
        team_id: str,
        webhook_id: str,
        new_secret_ciphertext: str,
        previous_expires_at: datetime | None,
        now: datetime,
    ) -> Webhook | None:
        # The right-hand sides see the row as it was: the old secret moves to "previous" in the
        # same statement that installs the new one, so concurrent rotations cannot lose a
        # secret that is still in use.
        keep_old = previous_expires_at is not None
        statement = (
            webhooks.update()
            .where(webhooks.c.team_id == team_id, webhooks.c.id == webhook_id)
            .values(
                secret_ciphertext=new_secret_ciphertext,
                previous_secret_ciphertext=webhooks.c.secret_ciphertext if keep_old else None,
                previous_secret_expires_at=previous_expires_at,
                updated_at=now,
            )
        )

        def work(conn: Connection) -> Webhook | None:
            if conn.execute(statement).rowcount == 0:
                return None
            return _get_webhook(conn, team_id, webhook_id)

        return await self._write(work)

    async def delete_webhook(self, team_id: str, webhook_id: str) -> bool:
        def work(conn: Connection) -> bool:
            conn.execute(
                webhook_subscriptions.delete().where(
                    webhook_subscriptions.c.webhook_id == webhook_id,
                    webhook_subscriptions.c.team_id == team_id,
                )
            )
            result = conn.execute(
                webhooks.delete().where(webhooks.c.team_id == team_id, webhooks.c.id == webhook_id)
            )
            return result.rowcount > 0

        return await self._write(work)


# -- row mapping and query helpers ---------------------------------------------------------


def _key_values(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "team_id": key.team_id,
        "name": key.name,
        "kind": key.kind.value,
        "mode": key.mode.value,
        "prefix": key.prefix,
        "last4": key.last4,
        "key_hash": key.key_hash,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def _key_from_row(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        kind=KeyKind(row.kind),
        mode=KeyMode(row.mode),
        prefix=row.prefix,
        last4=row.last4,
        key_hash=row.key_hash,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _webhook_from_row(row: sa.Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        url=row.url,
        events=tuple(row.events),
        is_active=bool(row.is_active),
        secret_ciphertext=row.secret_ciphertext,
        previous_secret_ciphertext=row.previous_secret_ciphertext,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        consecutive_failures=row.consecutive_failures,
        failing_since=row.failing_since,
        last_delivery_at=row.last_delivery_at,
        last_delivery_status=row.last_delivery_status,
        last_delivery_success=row.last_delivery_success,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        signature_scheme=row.signature_scheme,
        headers_ciphertext=row.headers_ciphertext,
        rate_limit=row.rate_limit,
        ordering=row.ordering,
        timeout_seconds=row.timeout_seconds,
    )


def _get_webhook(conn: Connection, team_id: str, webhook_id: str) -> Webhook | None:
    row = conn.execute(
        sa.select(webhooks).where(webhooks.c.team_id == team_id, webhooks.c.id == webhook_id)
    ).first()
    return None if row is None else _webhook_from_row(row)


def _replace_subscriptions(
    conn: Connection, team_id: str, webhook_id: str, patterns: Sequence[str]
) -> None:
    conn.execute(
        webhook_subscriptions.delete().where(webhook_subscriptions.c.webhook_id == webhook_id)
    )
    conn.execute(
        webhook_subscriptions.insert(),
        [{"webhook_id": webhook_id, "team_id": team_id, "pattern": p} for p in patterns],
    )


def set_deliveries_paused(conn: Connection, webhook_ids: Sequence[str], *, paused: bool) -> None:
    """Pause the pending deliveries of deactivated webhooks, or resume them (due at once if
    they fell due while paused)."""
    if not webhook_ids:
        return
    source, target = ("pending", "paused") if paused else ("paused", "pending")
    conn.execute(
        deliveries.update()
        .where(deliveries.c.webhook_id.in_(list(webhook_ids)), deliveries.c.status == source)
        .values(status=target, lease_until=None, leased_by=None)
    )


def waits_its_turn(ordering: str, rate_limit: int | None) -> bool:
    """Whether a webhook's deliveries wait with no due time until a claim makes them due: FIFO
    (one at a time) or rate-limited (as many as its free slots)."""
    return ordering == FIFO or rate_limit is not None


def set_waiting(conn: Connection, webhook_id: str, *, waiting: bool, now: datetime) -> None:
    """Switch a webhook's deliveries to waiting their turn (FIFO or a rate limit) or back.

    To waiting: every delivery not under way waits, numbered by its event, and the claims make
    them due in turn from the oldest (those under way finish first). Back: every waiting one
    falls due now.
    """
    waiting_rows = deliveries.c.status.in_(("pending", "paused"))
    if waiting:
        free = sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now)
        conn.execute(
            deliveries.update()
            .where(deliveries.c.webhook_id == webhook_id, waiting_rows, free)
            .values(
                next_attempt_at=None,
                event_seq=sa.select(events.c.seq)
                .where(events.c.id == deliveries.c.event_id)
                .scalar_subquery(),
            )
        )
    else:
        conn.execute(
            deliveries.update()
            .where(
                deliveries.c.webhook_id == webhook_id,
                waiting_rows,
                deliveries.c.next_attempt_at.is_(None),
            )
            .values(next_attempt_at=now)
        )


def _paginate(query: sa.Select[Any], table: sa.Table, page: PageRequest) -> sa.Select[Any]:
    """Newest first; one extra row tells whether another page follows."""
    if page.after is not None:
        query = query.where(
            sa.tuple_(table.c.created_at, table.c.id)
            < sa.tuple_(
                sa.literal(page.after.created_at, UTCDateTime()),
                sa.literal(page.after.id, sa.String),
            )
        )
    return query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(page.limit + 1)


def _page(items: list[_T], page: PageRequest) -> Page[_T]:
    return Page(items=items[: page.limit], has_more=len(items) > page.limit)
