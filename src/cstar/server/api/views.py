"""How domain objects look on the wire: camelCase REST objects, never a secret unless asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from cstar.events import CATEGORIES, EventType, sample_data
from cstar.server.api.ratelimit import Decision
from cstar.server.domain.clock import iso_z, iso_z_ms
from cstar.server.domain.deliveries import Attempt, Delivery
from cstar.server.domain.models import ApiKey, Team, Webhook
from cstar.server.domain.pagination import Page
from cstar.server.domain.request_logs import LoggedRequest, RequestLogPage
from cstar.server.services.deliveries import DeliveryDetail, TestSendResult
from cstar.server.store.contract import PublishOutcome


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
        "consecutiveFailures": w.consecutive_failures,
        "lastDeliveryAt": _iso(w.last_delivery_at),
        "lastDeliveryStatus": w.last_delivery_status,
        "disabledReason": w.disabled_reason,
        "disabledAt": _iso(w.disabled_at),
        "signatureScheme": w.signature_scheme,
        "headers": dict(w.headers),
        "rateLimit": w.rate_limit,
        "ordering": w.ordering,
        "timeoutSeconds": w.timeout_seconds,
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


def delivery(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "eventId": d.event_id,
        "eventType": d.event_type,
        "webhookId": d.webhook_id,
        "status": d.status.value,
        "attemptCount": d.attempts,
        "nextAttemptAt": _iso(d.next_attempt_at),
        "lastStatus": d.last_status_code,
        "lastError": d.last_error,
        "createdAt": iso_z(d.created_at),
        "updatedAt": iso_z(d.updated_at),
        "completedAt": _iso(d.completed_at),
    }


def attempt(a: Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "startedAt": iso_z_ms(a.started_at),
        "durationMs": a.duration_ms,
        "status": a.status_code,
        "success": a.success,
        "error": a.error,
        "url": a.url,
        "requestHeaders": a.request_headers,
        "responseBody": a.response_body,
    }


def delivery_detail(detail: DeliveryDetail) -> dict[str, Any]:
    # The stored body as it is, not parsed and serialised again: the same bytes every attempt
    # sent, at any depth the publisher used.
    payload = orjson.Fragment(detail.event.payload) if detail.event is not None else None
    return {
        **delivery(detail.delivery),
        "payload": payload,
        "attempts": [attempt(a) for a in detail.attempts],
    }


def published(outcome: PublishOutcome) -> dict[str, Any]:
    return {
        "id": outcome.event.id,
        "type": outcome.event.type,
        "createdAt": iso_z(outcome.event.created_at),
        "deliveriesQueued": len(outcome.queued),
        "replayed": outcome.replayed,
    }


def trigger_test(outcome: PublishOutcome) -> dict[str, Any]:
    return {
        "event": outcome.event.type,
        "eventId": outcome.event.id,
        "test": True,
        "deliveries": [
            {"deliveryId": q.delivery_id, "webhookId": q.webhook_id} for q in outcome.queued
        ],
        "deliveredTo": len(outcome.queued),
    }


def test_send(result: TestSendResult) -> dict[str, Any]:
    return {
        "deliveryId": result.delivery_id,
        "event": result.event,
        "url": result.url,
        "success": result.success,
        "status": result.status,
        "responseTimeMs": result.response_time_ms,
        "error": result.error,
    }


def request_log(entry: LoggedRequest) -> dict[str, Any]:
    return {
        "id": entry.id,
        "createdAt": iso_z_ms(entry.created_at),
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "durationMs": entry.duration_ms,
        "requestId": entry.request_id,
        "keyPrefix": entry.key_prefix,
    }


def request_log_pagination(page: RequestLogPage, limit: int) -> dict[str, Any]:
    return {"limit": limit, "hasMore": page.has_more, "nextCursor": page.next_cursor}


def status(
    *,
    team: Team,
    key: ApiKey,
    version: str,
    dev: bool,
    database: str,
    limit: Decision,
    window_seconds: int,
) -> dict[str, Any]:
    return {
        "team": {"id": team.id, "name": team.name},
        "key": {
            "id": key.id,
            "type": key.kind.value,
            "mode": key.mode.value,
            "prefix": key.prefix,
            "name": key.name,
        },
        "server": {"version": version, "dev": dev, "database": database},
        "rateLimit": {
            "limit": limit.limit,
            "remaining": limit.remaining,
            "reset": limit.reset_at,
            "windowSeconds": window_seconds,
        },
    }
