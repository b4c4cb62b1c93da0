"""Request bodies and response shapes of the REST API.

Request models validate shape and types (strictly: ``"true"`` is not a boolean, unknown fields are
rejected); the domain rules then check meaning. Response models exist to describe the API in its
OpenAPI document; routes build their JSON with ``views`` and answer directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from cstar.server.domain.webhooks import (
    EVENTS_MAX,
    HEADERS_MAX,
    NAME_MAX,
    RATE_LIMIT_MAX,
    TIMEOUT_MAX,
    TIMEOUT_MIN,
    URL_MAX,
)


def _events_type(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "events_type", "events must be a comma-separated string or an array of strings"
        ) from None


EventsInput = Annotated[
    str | Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=EVENTS_MAX)],
    WrapValidator(_events_type),
    Field(
        description=(
            "Event types to subscribe to: a comma-separated string "
            '(`"ticket.created,ticket.closed"`) or an array. Wildcards: `ticket.*`, `*`.'
        ),
        examples=["ticket.created,ticket.closed"],
    ),
]


def _aware_datetime(value: Any) -> datetime:
    """An ISO 8601 string with a timezone, as a UTC datetime. Numbers (Unix times) and strings
    without a timezone are refused, and so are instants outside the years 1 to 9999 in UTC."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value.upper())  # RFC 3339 allows "t" and "z"
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                try:
                    return moment.astimezone(UTC)
                except OverflowError:
                    raise PydanticCustomError(
                        "datetime_range", "is outside the years 1 to 9999 in UTC"
                    ) from None
    raise PydanticCustomError("aware_datetime", "must be an ISO 8601 date-time with a timezone")


AwareDateTime = Annotated[datetime, BeforeValidator(_aware_datetime)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


SignatureScheme = Literal["cstar", "standard-webhooks"]
Ordering = Literal["none", "fifo"]

_SCHEME_DOC = (
    "How deliveries are signed: `cstar` (the `X-Signature: t=...,v1=...` header) or "
    "`standard-webhooks` (`webhook-id`, `webhook-timestamp`, `webhook-signature`, as the "
    "Standard Webhooks specification describes; the secret is then `whsec_` and base64)"
)
_HEADERS_DOC = (
    f"Custom headers sent with every delivery (at most {HEADERS_MAX}), name to value; stored "
    "encrypted and never logged. Names cStar sets itself (`X-Signature`, `webhook-*`, "
    "`X-Event-*`, `X-Webhook-ID`, `X-Timestamp`, `X-Delivery-Attempt`, `x-cstar-*`, "
    "`User-Agent`, `Content-Type`, `Content-Length`, `Host`, hop-by-hop headers) are refused"
)
_RATE_DOC = (
    f"At most this many deliveries per second to this endpoint (1 to {RATE_LIMIT_MAX}), across "
    "all workers; null: no limit. Deliveries waiting for their turn stay pending"
)
_ORDERING_DOC = (
    "`fifo`: one delivery at a time, in publish order; the next starts once the one before has "
    "succeeded or finally failed (retries included). `none`: as many at once as allowed"
)
_TIMEOUT_DOC = (
    f"Seconds one delivery attempt may take ({TIMEOUT_MIN} to {TIMEOUT_MAX}); null: the "
    "server's delivery timeout"
)


class WebhookCreate(_Body):
    name: str = Field(max_length=NAME_MAX, description="Friendly name", examples=["My Webhook"])
    url: str = Field(
        max_length=URL_MAX,
        description="Delivery URL (must be HTTPS)",
        examples=["https://example.com/webhook"],
    )
    events: EventsInput
    is_active: bool = Field(True, alias="isActive", description="Start enabled (default true)")
    signature_scheme: SignatureScheme = Field(
        "cstar", alias="signatureScheme", description=_SCHEME_DOC
    )
    headers: dict[str, str] | None = Field(None, description=_HEADERS_DOC)
    rate_limit: int | None = Field(None, alias="rateLimit", description=_RATE_DOC)
    ordering: Ordering = Field("none", description=_ORDERING_DOC)
    timeout_seconds: int | None = Field(None, alias="timeoutSeconds", description=_TIMEOUT_DOC)


class WebhookPatch(_Body):
    name: str | None = Field(None, max_length=NAME_MAX, description="Friendly name")
    url: str | None = Field(None, max_length=URL_MAX, description="Delivery URL (must be HTTPS)")
    events: EventsInput | None = None
    is_active: bool | None = Field(
        None, alias="isActive", description="Enable or disable the webhook"
    )
    signature_scheme: SignatureScheme | None = Field(
        None, alias="signatureScheme", description=_SCHEME_DOC
    )
    headers: dict[str, str] | None = Field(
        None, description=_HEADERS_DOC + ". Replaces the whole set; `{}` removes them all"
    )
    rate_limit: int | None = Field(None, alias="rateLimit", description=_RATE_DOC)
    ordering: Ordering | None = Field(None, description=_ORDERING_DOC)
    timeout_seconds: int | None = Field(None, alias="timeoutSeconds", description=_TIMEOUT_DOC)


class RotateSecret(_Body):
    grace_period_seconds: int = Field(
        0,
        alias="gracePeriodSeconds",
        ge=0,
        le=7 * 24 * 3600,
        description=(
            "How long the old secret keeps signing beside the new one (deliveries carry one "
            "v1 signature per valid secret). 0, the default, retires it at once."
        ),
    )


class KeyCreate(_Body):
    name: str | None = Field(None, max_length=200, description="A label for the key")
    type: Literal["secret", "publishable"] = Field("secret", description="Key type")
    mode: Literal["test", "live"] | None = Field(
        None, description="test or live; defaults to the mode of the key making the request"
    )


# -- responses ---------------------------------------------------------------------------------

DataT = TypeVar("DataT")


class Pagination(BaseModel):
    limit: int
    hasMore: bool
    nextCursor: str | None = Field(
        description="Pass as `cursor` to fetch the next page; null on the last page"
    )


class Meta(BaseModel):
    requestId: str = Field(examples=["req_3f9a1c2b4d5e6f708192a3b4"])
    timestamp: datetime
    pagination: Pagination | None = None


class Envelope(BaseModel, Generic[DataT]):
    success: Literal[True]
    data: DataT
    meta: Meta


class ErrorDetail(BaseModel):
    type: str = Field(examples=["validation_error"])
    code: str = Field(examples=["PARAMETER_INVALID"])
    message: str
    param: str | None = None
    doc_url: str | None = None
    request_id: str


class ErrorMeta(BaseModel):
    timestamp: datetime


class ErrorEnvelope(BaseModel):
    success: Literal[False]
    error: ErrorDetail
    meta: ErrorMeta


class WebhookOut(BaseModel):
    id: str = Field(examples=["whk_a1b2c3d4e5f6g7h8i9j0"])
    name: str
    url: str
    events: list[str]
    isActive: bool
    createdAt: datetime
    updatedAt: datetime
    consecutiveFailures: int = Field(description="Failed attempts since the last successful one")
    lastDeliveryAt: datetime | None = Field(description="When the last attempt was made")
    lastDeliveryStatus: int | None = Field(
        description="HTTP status of the last attempt; null if it got no response"
    )
    disabledReason: str | None = Field(
        description="Why the system deactivated this webhook (410 Gone, or failing too long)"
    )
    disabledAt: datetime | None
    signatureScheme: SignatureScheme = Field(description=_SCHEME_DOC)
    headers: dict[str, str] = Field(description=_HEADERS_DOC)
    rateLimit: int | None = Field(description=_RATE_DOC)
    ordering: Ordering = Field(description=_ORDERING_DOC)
    timeoutSeconds: int | None = Field(description=_TIMEOUT_DOC)


class WebhookWithSecretOut(WebhookOut):
    secret: str = Field(
        description="The signing secret (whsec_...). Shown once: save it now.",
        examples=["whsec_AbCdEf1234567890AbCdEf1234567890AbCdEf12"],
    )


class RotatedWebhookOut(WebhookWithSecretOut):
    previousSecretExpiresAt: datetime | None = Field(
        description="Until when the previous secret keeps signing; null if retired at once"
    )


class Deleted(BaseModel):
    id: str
    deleted: Literal[True]


class KeyOut(BaseModel):
    id: str = Field(examples=["key_a1b2c3d4e5f6g7h8i9j0"])
    name: str
    type: Literal["secret", "publishable"]
    mode: Literal["test", "live"]
    prefix: str = Field(description="The first characters of the key", examples=["sk_test_4eC3"])
    last4: str
    isActive: bool
    createdAt: datetime
    lastUsedAt: datetime | None
    revokedAt: datetime | None


class KeyWithSecretOut(KeyOut):
    key: str = Field(description="The API key itself. Shown once: save it now.")


class EventTypeOut(BaseModel):
    type: str = Field(examples=["ticket.created"])
    category: str = Field(examples=["tickets"])
    categoryTitle: str = Field(examples=["Tickets"])
    resource: str
    action: str
    description: str
    sample: dict[str, Any] = Field(description="An example `data` object (snake_case)")


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    version: str


class WebhookEnvelope(Envelope[WebhookOut]):
    pass


class WebhookListEnvelope(Envelope[list[WebhookOut]]):
    pass


class WebhookCreatedEnvelope(Envelope[WebhookWithSecretOut]):
    pass


class WebhookRotatedEnvelope(Envelope[RotatedWebhookOut]):
    pass


class DeletedEnvelope(Envelope[Deleted]):
    pass


class KeyEnvelope(Envelope[KeyOut]):
    pass


class KeyListEnvelope(Envelope[list[KeyOut]]):
    pass


class KeyCreatedEnvelope(Envelope[KeyWithSecretOut]):
    pass


class EventTypeListEnvelope(Envelope[list[EventTypeOut]]):
    pass


class HealthEnvelope(Envelope[Health]):
    pass


# -- events and deliveries -----------------------------------------------------------------------


class PublishEvent(_Body):
    type: str = Field(max_length=100, description="Event type", examples=["ticket.created"])
    data: dict[str, Any] = Field(
        description="The event's `data` object, snake_case, sent as is in the envelope",
        examples=[{"ticket": {"id": "tkt_123", "title": "Cannot log in", "status": "new"}}],
    )
    idempotency_key: str | None = Field(
        None,
        alias="idempotencyKey",
        max_length=255,
        description="Publishing again with the same key within 24 h returns the first event "
        "and queues nothing new",
    )


class PublishBatch(_Body):
    events: list[PublishEvent] = Field(
        min_length=1,
        max_length=100,
        description="1 to 100 events, stored in one transaction: all of them or none",
    )


class EventRef(_Body):
    event: str = Field(max_length=100, description="Event type", examples=["ticket.created"])


class Recover(_Body):
    since: AwareDateTime = Field(
        description="Re-queue the webhook's failed deliveries created at or after this time "
        "(ISO 8601 with a timezone)",
        examples=["2026-11-20T00:00:00Z"],
    )


class PublishedOut(BaseModel):
    id: str = Field(examples=["evt_ticket_created_1774583010044_abc12345"])
    type: str
    createdAt: datetime
    deliveriesQueued: int = Field(description="Deliveries queued for this event")
    replayed: bool = Field(description="True when an idempotency key returned an earlier event")


class QueuedDeliveryOut(BaseModel):
    deliveryId: str
    webhookId: str


class TriggerTestOut(BaseModel):
    event: str = Field(examples=["ticket.created"])
    eventId: str
    test: Literal[True]
    deliveries: list[QueuedDeliveryOut]
    deliveredTo: int = Field(description="How many webhooks the test event was queued for")


class TestSendOut(BaseModel):
    deliveryId: str
    event: str
    url: str
    success: bool
    status: int | None = Field(description="HTTP status of the answer; null if none came")
    responseTimeMs: int
    error: str | None


class DeliveryOut(BaseModel):
    id: str = Field(examples=["dlv_9f3c2a7d1e5b4c6a8f0e2d4b"])
    eventId: str
    eventType: str
    webhookId: str
    status: Literal["pending", "paused", "succeeded", "failed"]
    attemptCount: int
    nextAttemptAt: datetime | None
    lastStatus: int | None
    lastError: str | None
    createdAt: datetime
    updatedAt: datetime
    completedAt: datetime | None


class AttemptOut(BaseModel):
    attempt: int
    startedAt: datetime
    durationMs: int
    status: int | None
    success: bool
    error: str | None
    url: str
    requestHeaders: dict[str, str] = Field(description="As sent (signature included)")
    responseBody: str | None = Field(description="The first bytes of the answer")


class DeliveryDetailOut(DeliveryOut):
    payload: Any = Field(description="The exact JSON body every attempt sent")
    attempts: list[AttemptOut]


class RecoveredOut(BaseModel):
    webhookId: str
    since: datetime
    requeued: int


class PublishedEnvelope(Envelope[PublishedOut]):
    pass


class PublishedBatchOut(BaseModel):
    events: list[PublishedOut] = Field(description="One result per event, in the batch's order")


class PublishedBatchEnvelope(Envelope[PublishedBatchOut]):
    pass


class TriggerTestEnvelope(Envelope[TriggerTestOut]):
    pass


class TestSendEnvelope(Envelope[TestSendOut]):
    pass


class DeliveryEnvelope(Envelope[DeliveryOut]):
    pass


class DeliveryListEnvelope(Envelope[list[DeliveryOut]]):
    pass


class DeliveryDetailEnvelope(Envelope[DeliveryDetailOut]):
    pass


class RecoveredEnvelope(Envelope[RecoveredOut]):
    pass


# -- the request log and the caller's status -----------------------------------------------------


class RequestLogOut(BaseModel):
    id: int = Field(
        description="Increases with every entry: pass the highest seen as `after` to follow "
        "new entries",
        examples=[1042],
    )
    createdAt: datetime = Field(description="When the request arrived (milliseconds)")
    method: str = Field(examples=["POST"])
    path: str = Field(
        description="The path, with the names (never the values) of its query parameters",
        examples=["/api/v1/teams/8f0e2c4a-0b1c-4d2e-9f3a-5b6c7d8e9f01/webhooks?active&limit"],
    )
    status: int = Field(description="HTTP status of the answer", examples=[201])
    durationMs: int = Field(description="Time until the answer started", examples=[12])
    requestId: str = Field(examples=["req_3f9a1c2b4d5e6f708192a3b4"])
    keyPrefix: str = Field(
        description="The first characters of the key that made the request",
        examples=["sk_test_4eC3"],
    )


class RequestLogListEnvelope(Envelope[list[RequestLogOut]]):
    pass


class StatusTeam(BaseModel):
    id: str
    name: str


class StatusKey(BaseModel):
    id: str = Field(examples=["key_a1b2c3d4e5f6g7h8i9j0"])
    type: Literal["secret", "publishable"]
    mode: Literal["test", "live"]
    prefix: str = Field(examples=["sk_test_4eC3"])
    name: str


class StatusServer(BaseModel):
    version: str = Field(examples=["0.1.0"])
    dev: bool = Field(description="True when the server runs with --dev")
    database: Literal["sqlite", "postgresql"]


class StatusRateLimit(BaseModel):
    limit: int = Field(description="Requests allowed per window for this key", examples=[1000])
    remaining: int = Field(
        description="Requests left in the current window, this one counted", examples=[997]
    )
    reset: int = Field(
        description="Unix time (seconds) when the current window ends", examples=[1795460960]
    )
    windowSeconds: int = Field(examples=[60])


class StatusOut(BaseModel):
    team: StatusTeam
    key: StatusKey
    server: StatusServer
    rateLimit: StatusRateLimit = Field(
        description="This key's current window: the same numbers as the X-RateLimit-* headers"
    )


class StatusEnvelope(Envelope[StatusOut]):
    pass
