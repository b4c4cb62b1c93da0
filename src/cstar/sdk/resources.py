"""The resource namespaces of both clients: ``client.webhooks``, ``client.events``,
``client.deliveries`` and ``client.keys``.

Each method is one line binding an operation builder of ``_operations`` (where its arguments,
signature and docstring live), once for the sync client and once for the async one.
"""

from __future__ import annotations

from cstar.sdk import _operations as ops
from cstar.sdk._binding import AsyncResource, SyncResource, async_op, sync_op

__all__ = [
    "AsyncDeliveries",
    "AsyncEvents",
    "AsyncKeys",
    "AsyncLogs",
    "AsyncWebhooks",
    "Deliveries",
    "Events",
    "Keys",
    "Logs",
    "Webhooks",
]


class Webhooks(SyncResource):
    """Register endpoints, change and delete them, test them, rotate their secrets."""

    __slots__ = ()
    create = sync_op(ops.create_webhook)
    list = sync_op(ops.list_webhooks)
    get = sync_op(ops.get_webhook)
    update = sync_op(ops.update_webhook)
    delete = sync_op(ops.delete_webhook)
    test = sync_op(ops.test_webhook)
    trigger_test = sync_op(ops.trigger_test)
    rotate_secret = sync_op(ops.rotate_secret)
    deliveries = sync_op(ops.list_deliveries)
    recover = sync_op(ops.recover_webhook)


class Events(SyncResource):
    """Publish events, and read the catalog of event types."""

    __slots__ = ()
    publish = sync_op(ops.publish_event)
    publish_batch = sync_op(ops.publish_events)
    catalog = sync_op(ops.event_catalog)


class Deliveries(SyncResource):
    """Delivery logs: list a webhook's deliveries, read one with its attempts, resend it."""

    __slots__ = ()
    list = sync_op(ops.list_deliveries)
    get = sync_op(ops.get_delivery)
    resend = sync_op(ops.resend_delivery)


class Keys(SyncResource):
    """The team's API keys."""

    __slots__ = ()
    list = sync_op(ops.list_keys)
    create = sync_op(ops.create_key)
    revoke = sync_op(ops.revoke_key)


class Logs(SyncResource):
    """The team's API request log (method, path, status, duration; never a body)."""

    __slots__ = ()
    list = sync_op(ops.list_request_logs)


class AsyncWebhooks(AsyncResource):
    """Register endpoints, change and delete them, test them, rotate their secrets."""

    __slots__ = ()
    create = async_op(ops.create_webhook)
    list = async_op(ops.list_webhooks)
    get = async_op(ops.get_webhook)
    update = async_op(ops.update_webhook)
    delete = async_op(ops.delete_webhook)
    test = async_op(ops.test_webhook)
    trigger_test = async_op(ops.trigger_test)
    rotate_secret = async_op(ops.rotate_secret)
    deliveries = async_op(ops.list_deliveries)
    recover = async_op(ops.recover_webhook)


class AsyncEvents(AsyncResource):
    """Publish events, and read the catalog of event types."""

    __slots__ = ()
    publish = async_op(ops.publish_event)
    publish_batch = async_op(ops.publish_events)
    catalog = async_op(ops.event_catalog)


class AsyncDeliveries(AsyncResource):
    """Delivery logs: list a webhook's deliveries, read one with its attempts, resend it."""

    __slots__ = ()
    list = async_op(ops.list_deliveries)
    get = async_op(ops.get_delivery)
    resend = async_op(ops.resend_delivery)


class AsyncKeys(AsyncResource):
    """The team's API keys."""

    __slots__ = ()
    list = async_op(ops.list_keys)
    create = async_op(ops.create_key)
    revoke = async_op(ops.revoke_key)


class AsyncLogs(AsyncResource):
    """The team's API request log (method, path, status, duration; never a body)."""

    __slots__ = ()
    list = async_op(ops.list_request_logs)
