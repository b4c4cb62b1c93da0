"""How domain objects look on the wire: camelCase REST objects, never a secret unless asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cstar.events import CATEGORIES, EventType, sample_data
from cstar.server.domain.clock import iso_z
from cstar.server.domain.models import ApiKey, Webhook
from cstar.server.domain.pagination import Page


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_z(moment)


def webhook(w: Webhook) -> dict[str, Any]:
    return {
        "id": w.id,
        "name": w.name,
        "url": w.url,
        "events": list(w.events),
        "isActive": w.is_active,
        "createdAt": iso_z(w.created_at),
        "updatedAt": iso_z(w.updated_at),
    }


def webhook_with_secret(w: Webhook, secret: str) -> dict[str, Any]:
    return {**webhook(w), "secret": secret}


def rotated_webhook(w: Webhook, secret: str) -> dict[str, Any]:
    return {
        **webhook_with_secret(w, secret),
        "previousSecretExpiresAt": _iso(w.previous_secret_expires_at),
    }


def api_key(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "name": k.name,
        "type": k.kind.value,
        "mode": k.mode.value,
        "prefix": k.prefix,
        "last4": k.last4,
        "isActive": k.is_active,
        "createdAt": iso_z(k.created_at),
        "lastUsedAt": _iso(k.last_used_at),
        "revokedAt": _iso(k.revoked_at),
    }


def pagination(page: Page[Any], limit: int) -> dict[str, Any]:
    return {"limit": limit, "hasMore": page.has_more, "nextCursor": page.next_cursor}


_TITLES = {c.slug: c.title for c in CATEGORIES}


def event_type(e: EventType, *, dashboard_base_url: str) -> dict[str, Any]:
    return {
        "type": e.name,
        "category": e.category,
        "categoryTitle": _TITLES[e.category],
        "resource": e.resource,
        "action": e.action,
        "description": e.description,
        "sample": sample_data(e.name, dashboard_base_url=dashboard_base_url),
    }
