"""Typed results: frozen dataclasses with snake_case attributes, built from the API's camelCase
JSON. Times are timezone-aware ``datetime`` objects. Each result keeps the JSON object it came
from (``raw``; ``to_dict()`` returns a copy), so fields this SDK does not model yet stay
reachable.

Signing secrets and API keys appear only where the API returns them (``Webhook.secret`` after
create and rotate, ``ApiKey.key`` after create) and never in a ``repr``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

__all__ = [
    "ApiKey",
    "Deleted",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryDetail",
    "EventType",
    "Meta",
    "Pagination",
    "PublishedEvent",
    "QueuedDelivery",
    "RateLimitUsage",
    "RecoverResult",
    "RequestLog",
    "Status",
    "TestResult",
    "TriggerResult",
    "Webhook",
    "parse_datetime",
]


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 string (``Z`` or an offset) as an aware ``datetime``; ``None`` stays ``None``.

    A time without an offset is taken as UTC, which is what the API means by it.
    """
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _moment(value: Any) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError("a required time is missing")
    return moment


@dataclass(frozen=True, slots=True, kw_only=True)
class _Model:
    #: The JSON object this result was built from, as the API sent it.
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the JSON object (camelCase keys), fields the SDK does not model too."""
        return copy.deepcopy(dict(self.raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class Pagination:
    limit: int
    has_more: bool
    #: Pass as ``cursor`` to fetch the next page; ``None`` on the last page.
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            limit=int(data.get("limit", 0)),
            has_more=bool(data.get("hasMore", False)),
            next_cursor=data.get("nextCursor"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Meta:
    """What the API said about a response: ``client.last_meta.request_id`` quotes it to support."""

    request_id: str | None
    timestamp: datetime | None
    pagination: Pagination | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook(_Model):
    id: str
    name: str
    url: str
    events: tuple[str, ...]
    is_active: bool
    created_at: datetime
    updated_at: datetime | None = None
    #: Failed attempts since the last successful one.
    consecutive_failures: int = 0
    last_delivery_at: datetime | None = None
    last_delivery_status: int | None = None
    #: Why the system deactivated the webhook (410 Gone, or failing for too long).
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    #: The signing secret (``whsec_...``): only on the results of create and rotate-secret.
    secret: str | None = field(default=None, repr=False)
    #: After rotate-secret with a grace period: until when the previous secret keeps signing.
    previous_secret_expires_at: datetime | None = None
    # The delivery controls. Their defaults are what a server that predates them does, so its
    # answers still parse and mean the same.
    #: ``"cstar"`` (the ``X-Signature`` header) or ``"standard-webhooks"``.
    signature_scheme: str = "cstar"
    #: Custom headers sent with every delivery, names and values. Values often carry
    #: credentials, so they are kept out of the ``repr``; out of ``==`` and ``hash`` too, like
    #: the other mappings here, so a webhook stays hashable.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: Deliveries per second at most; ``None``: no limit.
    rate_limit: int | None = None
    #: ``"none"`` or ``"fifo"`` (one delivery at a time, in publish order).
    ordering: str = "none"
    #: Seconds one delivery attempt may take; ``None``: the server's delivery timeout.
    timeout_seconds: int | None = None

    @property
    def signing_secret(self) -> str | None:
        """The same as ``secret`` (the JavaScript SDK's name for it)."""
        return self.secret

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            id=data["id"],
            name=data["name"],
            url=data["url"],
            events=tuple(data["events"]),
            is_active=bool(data["isActive"]),
            created_at=_moment(data["createdAt"]),
            updated_at=parse_datetime(data.get("updatedAt")),
            consecutive_failures=int(data.get("consecutiveFailures") or 0),
            last_delivery_at=parse_datetime(data.get("lastDeliveryAt")),
            last_delivery_status=data.get("lastDeliveryStatus"),
            disabled_reason=data.get("disabledReason"),
            disabled_at=parse_datetime(data.get("disabledAt")),
            secret=data.get("secret"),
            previous_secret_expires_at=parse_datetime(data.get("previousSecretExpiresAt")),
            signature_scheme=data.get("signatureScheme") or "cstar",
            headers=dict(data.get("headers") or {}),
            rate_limit=data.get("rateLimit"),
            ordering=data.get("ordering") or "none",
            timeout_seconds=data.get("timeoutSeconds"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Deleted(_Model):
    id: str
    deleted: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(raw=data, id=data["id"], deleted=bool(data["deleted"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey(_Model):
    id: str
    name: str
    #: ``"secret"`` or ``"publishable"``.
    type: str
    #: ``"test"`` or ``"live"``.
    mode: str
    #: The first characters of the key, to recognise it.
    prefix: str
    last4: str
    is_active: bool
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    #: The key itself: only on the result of create. Save it then.
    key: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            id=data["id"],
            name=data["name"],
            type=data["type"],
            mode=data["mode"],
            prefix=data["prefix"],
            last4=data["last4"],
            is_active=bool(data["isActive"]),
            created_at=_moment(data["createdAt"]),
            last_used_at=parse_datetime(data.get("lastUsedAt")),
            revoked_at=parse_datetime(data.get("revokedAt")),
            key=data.get("key"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EventType(_Model):
    """One entry of the event catalog."""

    type: str
    category: str
    category_title: str
    resource: str
    action: str
    description: str
    #: An example ``data`` object (snake_case, as deliveries carry it).
    sample: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            type=data["type"],
            category=data["category"],
            category_title=data.get("categoryTitle", ""),
            resource=data.get("resource", ""),
            action=data.get("action", ""),
            description=data.get("description", ""),
            sample=data.get("sample") or {},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedEvent(_Model):
    id: str
    type: str
    created_at: datetime
    deliveries_queued: int
    #: True when the idempotency key returned an event published earlier (nothing new queued).
    replayed: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            id=data["id"],
            type=data["type"],
            created_at=_moment(data["createdAt"]),
            deliveries_queued=int(data["deliveriesQueued"]),
            replayed=bool(data.get("replayed", False)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedDelivery(_Model):
    delivery_id: str
    webhook_id: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(raw=data, delivery_id=data["deliveryId"], webhook_id=data["webhookId"])


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerResult(_Model):
    """The answer of ``webhooks.trigger_test``: a sample event queued for every subscriber."""

    event: str
    event_id: str
    test: bool
    deliveries: tuple[QueuedDelivery, ...]
    delivered_to: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        deliveries = tuple(QueuedDelivery.from_json(d) for d in data.get("deliveries") or ())
        return cls(
            raw=data,
            event=data["event"],
            event_id=data["eventId"],
            test=bool(data.get("test", True)),
            deliveries=deliveries,
            delivered_to=int(data.get("deliveredTo", len(deliveries))),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResult(_Model):
    """The answer of ``webhooks.test``: one sample sent now, and how the endpoint answered."""

    __test__ = False  # not a pytest test class

    delivery_id: str
    event: str
    url: str
    success: bool
    #: HTTP status of the answer; ``None`` if none came.
    status: int | None
    response_time_ms: int
    error: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            delivery_id=data["deliveryId"],
            event=data["event"],
            url=data["url"],
            success=bool(data["success"]),
            status=data.get("status"),
            response_time_ms=int(data.get("responseTimeMs") or 0),
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery(_Model):
    id: str
    event_id: str
    event_type: str
    webhook_id: str
    #: ``"pending"``, ``"paused"``, ``"succeeded"`` or ``"failed"``.
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    #: HTTP status of the last attempt; ``None`` if it got no answer.
    last_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(raw=data, **_delivery_fields(data))


def _delivery_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": data["id"],
        "event_id": data["eventId"],
        "event_type": data["eventType"],
        "webhook_id": data["webhookId"],
        "status": data["status"],
        "attempt_count": int(data.get("attemptCount") or 0),
        "next_attempt_at": parse_datetime(data.get("nextAttemptAt")),
        "last_status": data.get("lastStatus"),
        "last_error": data.get("lastError"),
        "created_at": _moment(data["createdAt"]),
        "updated_at": parse_datetime(data.get("updatedAt")),
        "completed_at": parse_datetime(data.get("completedAt")),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAttempt(_Model):
    attempt: int
    started_at: datetime
    duration_ms: int
    status: int | None
    success: bool
    error: str | None
    url: str
    #: The request headers as sent (the signature included).
    request_headers: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: The first bytes of the answer.
    response_body: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            attempt=int(data["attempt"]),
            started_at=_moment(data["startedAt"]),
            duration_ms=int(data.get("durationMs") or 0),
            status=data.get("status"),
            success=bool(data["success"]),
            error=data.get("error"),
            url=data.get("url", ""),
            request_headers=data.get("requestHeaders") or {},
            response_body=data.get("responseBody"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryDetail(Delivery):
    """One delivery as ``deliveries.get`` returns it: the body it sends and every attempt."""

    #: The exact JSON body every attempt sent (the event envelope, snake_case).
    payload: Any = field(default=None, compare=False)
    attempts: tuple[DeliveryAttempt, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            payload=data.get("payload"),
            attempts=tuple(DeliveryAttempt.from_json(a) for a in data.get("attempts") or ()),
            **_delivery_fields(data),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoverResult(_Model):
    webhook_id: str
    since: datetime
    #: How many failed deliveries were queued again.
    requeued: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            webhook_id=data["webhookId"],
            since=_moment(data["since"]),
            requeued=int(data["requeued"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitUsage(_Model):
    limit: int
    remaining: int
    #: Unix time when the window restarts.
    reset: int
    window_seconds: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            limit=int(data["limit"]),
            remaining=int(data["remaining"]),
            reset=int(data["reset"]),
            window_seconds=int(data["windowSeconds"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Status(_Model):
    """Who the key is (team, key type and mode), the server's version, rate-limit usage."""

    team_id: str
    team_name: str
    key_id: str
    key_type: str
    key_mode: str
    key_prefix: str
    server_version: str
    rate_limit: RateLimitUsage

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        team, key, server = data["team"], data["key"], data["server"]
        return cls(
            raw=data,
            team_id=team["id"],
            team_name=team.get("name", ""),
            key_id=key["id"],
            key_type=key["type"],
            key_mode=key["mode"],
            key_prefix=key.get("prefix", ""),
            server_version=server.get("version", ""),
            rate_limit=RateLimitUsage.from_json(data["rateLimit"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestLog(_Model):
    """One API request the server recorded (never a body)."""

    id: int
    created_at: datetime
    method: str
    path: str
    status: int
    duration_ms: int
    request_id: str | None = None
    key_prefix: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            raw=data,
            id=int(data["id"]),
            created_at=_moment(data["createdAt"]),
            method=data["method"],
            path=data["path"],
            status=int(data["status"]),
            duration_ms=int(data.get("durationMs") or 0),
            request_id=data.get("requestId"),
            key_prefix=data.get("keyPrefix"),
        )
