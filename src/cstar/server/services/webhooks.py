"""Webhook management: create, read, update, delete and rotate signing secrets."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cstar.delivery_headers import CSTAR_SCHEME, STANDARD_SCHEME
from cstar.server.domain import webhooks as rules
from cstar.server.domain.clock import Clock
from cstar.server.domain.errors import InvalidParameter, NotFound
from cstar.server.domain.ids import (
    is_webhook_id,
    new_signing_secret,
    new_standard_secret,
    new_webhook_id,
)
from cstar.server.domain.models import Webhook
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.domain.rotation import signing_secrets
from cstar.server.security.secretbox import SecretBox
from cstar.server.store.contract import UNCHANGED, Store, WebhookChanges

MAX_GRACE_PERIOD = timedelta(days=7)
NOT_FOUND_MESSAGE = "Webhook not found"


class _Unset(enum.Enum):
    UNSET = "unset"


#: A PATCH field left out, where ``None`` means "none" (no rate limit, the default timeout).
UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class WebhookDraft:
    name: str
    url: str
    events: str | Sequence[str]
    is_active: bool = True
    signature_scheme: str = CSTAR_SCHEME
    headers: Mapping[str, str] | None = None
    rate_limit: int | None = None
    ordering: str = "none"
    timeout_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class WebhookUpdate:
    """What a PATCH may change; ``None`` (or ``UNSET`` where ``None`` has a meaning) leaves a
    field alone. ``headers`` replaces the whole set (``{}`` removes them all)."""

    name: str | None = None
    url: str | None = None
    events: str | Sequence[str] | None = None
    is_active: bool | None = None
    signature_scheme: str | None = None
    headers: Mapping[str, str] | None = None
    rate_limit: int | _Unset | None = UNSET
    ordering: str | None = None
    timeout_seconds: int | _Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class WithSecret:
    """A webhook together with its signing secret in clear text (create and rotate only)."""

    webhook: Webhook
    secret: str


def new_secret(scheme: str) -> str:
    """A fresh signing secret: base62 for cStar's scheme (any ``whsec_`` text keys its HMAC);
    base64 of 32 random bytes for Standard Webhooks, whose key is the decoded bytes."""
    return new_standard_secret() if scheme == STANDARD_SCHEME else new_signing_secret()


class WebhookService:
    def __init__(self, store: Store, box: SecretBox, clock: Clock, *, dev: bool) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self._dev = dev

    async def create(
        self, team_id: str, draft: WebhookDraft, *, limit: int | None = None
    ) -> WithSecret:
        """A new webhook and its signing secret; ``limit``: the most webhooks the team may
        have."""
        name = rules.clean_name(draft.name)
        url = rules.clean_url(draft.url, dev=self._dev)
        events = rules.clean_events(draft.events)
        scheme = rules.clean_scheme(draft.signature_scheme)
        headers = rules.clean_headers(draft.headers or {})
        secret = new_secret(scheme)
        now = self._clock()
        webhook = Webhook(
            id=new_webhook_id(),
            team_id=team_id,
            name=name,
            url=url,
            events=events,
            is_active=draft.is_active,
            secret_ciphertext=self._box.encrypt(secret),
            created_at=now,
            updated_at=now,
            signature_scheme=scheme,
            headers_ciphertext=self._seal(headers),
            headers=headers,
            rate_limit=rules.clean_rate_limit(draft.rate_limit),
            ordering=rules.clean_ordering(draft.ordering),
            timeout_seconds=rules.clean_timeout(draft.timeout_seconds),
        )
        if not await self._store.insert_webhook(webhook, max_per_team=limit):
            raise InvalidParameter(
                None,
                f"This team already has {limit} webhooks, the most allowed "
                "(CSTAR_MAX_WEBHOOKS_PER_TEAM): delete one before creating another",
            )
        return WithSecret(webhook=webhook, secret=secret)

    async def get(self, team_id: str, webhook_id: str) -> Webhook:
        if not is_webhook_id(webhook_id):
            raise NotFound(NOT_FOUND_MESSAGE, param="webhookId")
        webhook = await self._store.get_webhook(team_id, webhook_id)
        if webhook is None:
            raise NotFound(NOT_FOUND_MESSAGE, param="webhookId")
        return self.opened(webhook)

    async def list(self, team_id: str, *, active: bool | None, page: PageRequest) -> Page[Webhook]:
        found = await self._store.list_webhooks(team_id, active=active, page=page)
        return dataclasses.replace(found, items=[self.opened(w) for w in found.items])

    async def update(self, team_id: str, webhook_id: str, update: WebhookUpdate) -> Webhook:
        if not is_webhook_id(webhook_id):
            raise NotFound(NOT_FOUND_MESSAGE, param="webhookId")
        changes = WebhookChanges(
            name=None if update.name is None else rules.clean_name(update.name),
            url=None if update.url is None else rules.clean_url(update.url, dev=self._dev),
            events=None if update.events is None else rules.clean_events(update.events),
            is_active=update.is_active,
            signature_scheme=(
                None
                if update.signature_scheme is None
                else rules.clean_scheme(update.signature_scheme)
            ),
            headers_ciphertext=(
                None if update.headers is None else self._seal(rules.clean_headers(update.headers))
            ),
            clear_headers=update.headers is not None and not update.headers,
            rate_limit=(
                UNCHANGED
                if update.rate_limit is UNSET
                else rules.clean_rate_limit(update.rate_limit)
            ),
            ordering=None if update.ordering is None else rules.clean_ordering(update.ordering),
            timeout_seconds=(
                UNCHANGED
                if update.timeout_seconds is UNSET
                else rules.clean_timeout(update.timeout_seconds)
            ),
        )
        updated = await self._store.update_webhook(team_id, webhook_id, changes, self._clock())
        if updated is None:
            raise NotFound(NOT_FOUND_MESSAGE, param="webhookId")
        return self.opened(updated)

    async def delete(self, team_id: str, webhook_id: str) -> None:
        if not is_webhook_id(webhook_id) or not await self._store.delete_webhook(
            team_id, webhook_id
        ):
            raise NotFound(NOT_FOUND_MESSAGE, param="webhookId")

    async def rotate_secret(
        self, team_id: str, webhook_id: str, *, grace_period: timedelta = timedelta(0)
    ) -> WithSecret:
        """Install a new secret; the old one keeps signing beside it for ``grace_period``."""
        if not is_webhook_id(webhook_id):
            raise NotFound(NOT_FOUND_MESSAGE, param="webhookId")
        if grace_period < timedelta(0) or grace_period > MAX_GRACE_PERIOD:
            raise InvalidParameter(
                "gracePeriodSeconds",
                f"gracePeriodSeconds must be between 0 and {int(MAX_GRACE_PERIOD.total_seconds())}",
            )
        current = await self.get(team_id, webhook_id)
        secret = new_secret(current.signature_scheme)
        now = self._clock()
        expires = now + grace_period if grace_period > timedelta(0) else None
        rotated = await self._store.rotate_secret(
            team_id, webhook_id, self._box.encrypt(secret), expires, now
        )
        if rotated is None:
            raise NotFound(NOT_FOUND_MESSAGE, param="webhookId")
        return WithSecret(webhook=self.opened(rotated), secret=secret)

    def opened(self, webhook: Webhook) -> Webhook:
        """The webhook with its custom headers decrypted, for whoever shows them."""
        if webhook.headers_ciphertext is None:
            return webhook
        return dataclasses.replace(webhook, headers=self.headers_of(webhook.headers_ciphertext))

    def headers_of(self, ciphertext: str | None) -> dict[str, str]:
        """Custom headers in clear from their stored form."""
        if ciphertext is None:
            return {}
        return rules.headers_from_json(self._box.decrypt(ciphertext))

    def _seal(self, headers: Mapping[str, str]) -> str | None:
        return self._box.encrypt(rules.headers_to_json(headers)) if headers else None

    def signing_secrets(self, webhook: Webhook) -> tuple[str, ...]:
        """The secrets a delivery to this webhook is signed with now."""
        return signing_secrets(
            webhook.secret_ciphertext,
            webhook.previous_secret_ciphertext,
            webhook.previous_secret_expires_at,
            now=self._clock(),
            decrypt=self._box.decrypt,
        )
