"""The cStar Python SDK: ``CStarClient`` (sync) and ``AsyncCStarClient`` (asyncio).

It needs only httpx and the standard library (none of the server's packages)::

    from cstar.sdk import CStarClient, NotFoundError

    with CStarClient(api_key="sk_test_...", team_id="...") as cstar:
        webhook = cstar.webhooks.create(url="https://example.com/hook", events=["ticket.*"])
        save(webhook.secret)  # shown this once
        for w in cstar.webhooks.list():  # every page
            print(w.id, w.url)
        print(cstar.last_meta.request_id)

Both clients have the same methods: ``webhooks.create/list/get/update/delete/test/
trigger_test/rotate_secret/deliveries/recover``, ``events.publish/catalog``,
``deliveries.list/get/resend`` and ``keys.list/create/revoke``. The async ones return
coroutines; their list methods return an ``AsyncPager`` (``await`` it for the first page, or
``async for`` over it for every item).
"""

from cstar.sdk._operations import NOT_GIVEN, NotGiven
from cstar.sdk.async_client import AsyncCStarClient
from cstar.sdk.client import CStarClient
from cstar.sdk.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    CStarError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from cstar.sdk.models import (
    ApiKey,
    Deleted,
    Delivery,
    DeliveryAttempt,
    DeliveryDetail,
    EventType,
    Meta,
    Pagination,
    PublishedEvent,
    QueuedDelivery,
    RateLimitUsage,
    RecoverResult,
    RequestLog,
    Status,
    TestResult,
    TriggerResult,
    Webhook,
)
from cstar.sdk.pagination import AsyncPage, AsyncPager, Page
from cstar.sdk.realtime import (
    AsyncRealtime,
    AsyncSubscription,
    Realtime,
    RealtimeEvent,
    Subscription,
)

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "ApiKey",
    "AsyncCStarClient",
    "AsyncPage",
    "AsyncPager",
    "AsyncRealtime",
    "AsyncSubscription",
    "AuthenticationError",
    "CStarClient",
    "CStarError",
    "ConfigurationError",
    "Deleted",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryDetail",
    "EventType",
    "InvalidRequestError",
    "Meta",
    "NotFoundError",
    "NotGiven",
    "Page",
    "Pagination",
    "PermissionDeniedError",
    "PublishedEvent",
    "QueuedDelivery",
    "RateLimitError",
    "RateLimitUsage",
    "Realtime",
    "RealtimeEvent",
    "RecoverResult",
    "RequestLog",
    "Status",
    "Subscription",
    "TestResult",
    "TriggerResult",
    "ValidationError",
    "Webhook",
]
