"""Every API call the SDK makes, described once as data: an ``Operation``.

Each public function here builds the operation of one method of the clients (``create_webhook``
is ``client.webhooks.create``): its HTTP method and path, query and JSON body, how to read the
answer's ``data``, and whether sending it twice is harmless (``retry_safe``). The sync and the
async client both bind these functions (see ``_binding``), so argument checks, signatures and
docstrings are written here and nowhere else. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeAlias, TypeVar
from urllib.parse import quote

from cstar.sdk.models import (
    ApiKey,
    Deleted,
    Delivery,
    DeliveryDetail,
    EventType,
    PublishedEvent,
    RecoverResult,
    RequestLog,
    Status,
    TestResult,
    TriggerResult,
    Webhook,
)

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a list

#: Event types: a list (``["ticket.created", "ticket.*"]``) or a comma-separated string.
Events: TypeAlias = str | Sequence[str]
DeliveryStatus: TypeAlias = Literal["pending", "paused", "succeeded", "failed"]
KeyType: TypeAlias = Literal["secret", "publishable"]
KeyMode: TypeAlias = Literal["test", "live"]
#: How deliveries are signed: ``"cstar"`` (the ``X-Signature`` header) or
#: ``"standard-webhooks"`` (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).
SignatureScheme: TypeAlias = Literal["cstar", "standard-webhooks"]
#: ``"none"`` (deliveries in parallel) or ``"fifo"`` (one at a time, in publish order).
Ordering: TypeAlias = Literal["none", "fifo"]


class NotGiven(enum.Enum):
    """The default of ``update`` arguments: the field is left as it is (``None`` would be sent
    as ``null``, which the API rejects)."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven.NOT_GIVEN


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """One API call, as data."""

    method: str
    #: Relative to ``/api/v1/teams/{team_id}/`` when ``team_scoped``, else to ``/api/v1/``.
    path: str
    #: Turns the answer's ``data`` into the result.
    parse: Callable[[Any], T]
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    #: Sending it twice has the effect of sending it once, so a 5xx or a broken connection
    #: may be retried.
    retry_safe: bool = False
    team_scoped: bool = True


@dataclass(frozen=True, slots=True)
class PagedOperation(Generic[I]):
    """A list call: its first page, and the same call for the page after a cursor."""

    first: Operation[list[I]]

    def after(self, cursor: str) -> Operation[list[I]]:
        return replace(self.first, query={**self.first.query, "cursor": cursor})


def _list_of(parse_item: Callable[[Any], I]) -> Callable[[Any], list[I]]:
    def parse(data: Any) -> list[I]:
        if not isinstance(data, list):
            raise TypeError(f"expected a JSON array, got {type(data).__name__}")
        return [parse_item(item) for item in data]

    return parse


def _segment(value: str, name: str) -> str:
    """An id as one path segment: a non-empty string, escaped."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return quote(value, safe="")


def _events(events: Events) -> list[str]:
    """``"a, b"`` or ``["a", "b"]`` as ``["a", "b"]``; the API checks that each name exists."""
    if isinstance(events, str):
        items = events.split(",")
    elif isinstance(events, Sequence):
        items = list(events)
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"events must hold strings, got {type(item).__name__}")
    else:
        raise TypeError(
            "events must be a list of event types or a comma-separated string, "
            f"got {type(events).__name__}"
        )
    names = [item.strip() for item in items if item.strip()]
    if not names:
        raise ValueError("events must name at least one event type (or '*')")
    return names


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Custom headers as a JSON object; the API checks the names (and refuses the ones cStar
    sets itself), so only the shape is checked here, where a wrong type is easiest to trace."""
    if not isinstance(headers, Mapping):
        raise TypeError(
            f"headers must be a mapping of names to values, got {type(headers).__name__}"
        )
    for key, value in headers.items():
        if not isinstance(key, str):
            raise TypeError(f"header names must be strings, got {type(key).__name__}")
        if not isinstance(value, str):  # the value itself may be a credential: not quoted
            raise TypeError(
                f"the value of header {key} must be a string, got {type(value).__name__}"
            )
    return dict(headers)


def _whole(value: int | None, name: str) -> int | None:
    """An integer setting (``None`` stays ``None``); the API checks its range. ``True`` is
    refused here because JSON would send it as ``true``, not ``1``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be an integer or None, got {type(value).__name__}")
    return value


def _limit(limit: int | None) -> dict[str, str]:
    if limit is None:
        return {}
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return {"limit": str(limit)}


def _page_query(limit: int | None, cursor: str | None, **filters: str | None) -> dict[str, str]:
    query = _limit(limit)
    if cursor is not None:
        query["cursor"] = cursor
    query.update({k: v for k, v in filters.items() if v is not None})
    return query


def _moment(value: datetime | str, name: str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (for example datetime.now(UTC))")
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value
    raise TypeError(f"{name} must be a datetime or an ISO 8601 string")


# -- webhooks ---------------------------------------------------------------------------------


def create_webhook(
    *,
    url: str,
    events: Events,
    name: str | None = None,
    is_active: bool | None = None,
    signature_scheme: SignatureScheme | None = None,
    headers: Mapping[str, str] | None = None,
    rate_limit: int | None = None,
    ordering: Ordering | None = None,
    timeout_seconds: int | None = None,
) -> Operation[Webhook]:
    """Register an endpoint for ``events`` (a list or a comma-separated string; ``ticket.*``
    and ``*`` subscribe to a resource or to everything).

    The result's ``secret`` (also ``signing_secret``) is the signing secret, returned this
    once: save it now. ``name`` defaults to the URL; ``is_active=False`` creates it paused.

    Delivery controls, each left to the server's default when not given: ``signature_scheme``
    (``"cstar"`` or ``"standard-webhooks"``), ``headers`` (up to 20 custom headers sent with
    every delivery), ``rate_limit`` (deliveries per second, 1 to 10000; default: no limit),
    ``ordering`` (``"none"`` or ``"fifo"``) and ``timeout_seconds`` (1 to 30; default: the
    server's delivery timeout).
    """
    body: dict[str, Any] = {
        "name": name if name is not None else url[:200],
        "url": url,
        "events": _events(events),
    }
    if is_active is not None:
        body["isActive"] = is_active
    controls = {
        "signatureScheme": signature_scheme,
        "headers": None if headers is None else _headers(headers),
        "rateLimit": _whole(rate_limit, "rate_limit"),
        "ordering": ordering,
        "timeoutSeconds": _whole(timeout_seconds, "timeout_seconds"),
    }
    # Only what was given: a server that predates these fields still takes the others.
    body.update({key: value for key, value in controls.items() if value is not None})
    return Operation("POST", "webhooks", Webhook.from_json, body=body)


def list_webhooks(
    *, active: bool | None = None, limit: int | None = None, cursor: str | None = None
) -> PagedOperation[Webhook]:
    """The team's webhooks, newest first; ``active`` keeps only active (or inactive) ones.

    Returns the first page; iterate it to walk every page.
    """
    flag = None if active is None else ("true" if active else "false")
    query = _page_query(limit, cursor, active=flag)
    return PagedOperation(
        Operation("GET", "webhooks", _list_of(Webhook.from_json), query=query, retry_safe=True)
    )


def get_webhook(id: str) -> Operation[Webhook]:
    """One webhook (never its secret)."""
    path = f"webhooks/{_segment(id, 'id')}"
    return Operation("GET", path, Webhook.from_json, retry_safe=True)


def update_webhook(
    id: str,
    *,
    name: str | NotGiven = NOT_GIVEN,
    url: str | NotGiven = NOT_GIVEN,
    events: Events | NotGiven = NOT_GIVEN,
    is_active: bool | NotGiven = NOT_GIVEN,
    signature_scheme: SignatureScheme | NotGiven = NOT_GIVEN,
    headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
    rate_limit: int | NotGiven | None = NOT_GIVEN,
    ordering: Ordering | NotGiven = NOT_GIVEN,
    timeout_seconds: int | NotGiven | None = NOT_GIVEN,
) -> Operation[Webhook]:
    """Change the given fields and leave the others as they are (``is_active=False`` pauses
    the webhook without deleting it).

    ``headers`` replaces the whole set of custom headers (``{}`` removes them all).
    ``rate_limit=None`` removes the limit and ``timeout_seconds=None`` goes back to the
    server's delivery timeout.
    """
    body: dict[str, Any] = {}
    if not isinstance(name, NotGiven):
        body["name"] = name
    if not isinstance(url, NotGiven):
        body["url"] = url
    if not isinstance(events, NotGiven):
        body["events"] = None if events is None else _events(events)
    if not isinstance(is_active, NotGiven):
        body["isActive"] = is_active
    if not isinstance(signature_scheme, NotGiven):
        body["signatureScheme"] = signature_scheme
    if not isinstance(headers, NotGiven):
        body["headers"] = None if headers is None else _headers(headers)
    if not isinstance(rate_limit, NotGiven):
        body["rateLimit"] = _whole(rate_limit, "rate_limit")
    if not isinstance(ordering, NotGiven):
        body["ordering"] = ordering
    if not isinstance(timeout_seconds, NotGiven):
        body["timeoutSeconds"] = _whole(timeout_seconds, "timeout_seconds")
    path = f"webhooks/{_segment(id, 'id')}"
    return Operation("PATCH", path, Webhook.from_json, body=body, retry_safe=True)


def delete_webhook(id: str) -> Operation[Deleted]:
    """Delete a webhook for good."""
    path = f"webhooks/{_segment(id, 'id')}"
    return Operation("DELETE", path, Deleted.from_json, retry_safe=True)


def test_webhook(id: str, event: str) -> Operation[TestResult]:
    """Send a sample of ``event`` to this webhook now and report how it answered (one attempt,
    no retries)."""
    path = f"webhooks/{_segment(id, 'id')}/test"
    return Operation("POST", path, TestResult.from_json, body={"event": event})


def trigger_test(event: str) -> Operation[TriggerResult]:
    """Queue a sample of ``event`` for every active webhook subscribed to it (what
    ``cstar trigger`` does)."""
    return Operation(
        "POST", "webhooks/trigger-test", TriggerResult.from_json, body={"event": event}
    )


def rotate_secret(id: str, *, grace_period_seconds: int = 0) -> Operation[Webhook]:
    """Replace the signing secret; the result's ``secret`` is the new one, shown this once.

    With ``grace_period_seconds`` (up to 7 days) the old secret keeps signing beside the new
    one until then, so receivers can switch without dropping deliveries.
    """
    path = f"webhooks/{_segment(id, 'id')}/rotate-secret"
    body = {"gracePeriodSeconds": grace_period_seconds}
    return Operation("POST", path, Webhook.from_json, body=body)


def list_deliveries(
    webhook_id: str,
    *,
    status: DeliveryStatus | None = None,
    event_type: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> PagedOperation[Delivery]:
    """A webhook's deliveries, newest first, optionally only one ``status`` or ``event_type``.

    Returns the first page; iterate it to walk every page.
    """
    path = f"webhooks/{_segment(webhook_id, 'webhook_id')}/deliveries"
    query = _page_query(limit, cursor, status=status, eventType=event_type)
    return PagedOperation(
        Operation("GET", path, _list_of(Delivery.from_json), query=query, retry_safe=True)
    )


def recover_webhook(id: str, *, since: datetime | str) -> Operation[RecoverResult]:
    """Queue again this webhook's failed deliveries created since ``since`` (an aware
    ``datetime`` or an ISO 8601 string), each with a fresh retry schedule."""
    path = f"webhooks/{_segment(id, 'id')}/recover"
    body = {"since": _moment(since, "since")}
    return Operation("POST", path, RecoverResult.from_json, body=body)


# -- events -----------------------------------------------------------------------------------


def publish_event(
    type: str, data: Mapping[str, Any], *, idempotency_key: str | None = None
) -> Operation[PublishedEvent]:
    """Publish an event: one delivery is queued for every active webhook subscribed to ``type``.

    ``data`` is sent as is (snake_case by convention). The same ``idempotency_key`` within 24
    hours returns the first event (``replayed=True``) and queues nothing. Without one the SDK
    sends a random key, so a retried request can never publish twice.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a mapping (a JSON object), got {data.__class__.__name__}")
    body = {
        "type": type,
        "data": dict(data),
        "idempotencyKey": idempotency_key if idempotency_key is not None else str(uuid.uuid4()),
    }
    return Operation("POST", "events", PublishedEvent.from_json, body=body, retry_safe=True)


def publish_events(events: Sequence[Mapping[str, Any]]) -> Operation[list[PublishedEvent]]:
    """Publish 1 to 100 events in one transaction, all or nothing; one result per event, in
    order.

    Each item is a mapping with ``type``, ``data`` and, optionally, ``idempotency_key``. An item
    without a key gets a random one, so a retried request can never publish twice; a key used
    within 24 hours, or earlier in the batch, returns that first event (``replayed=True``).
    """
    if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Sequence):
        raise TypeError("events must be a sequence of mappings (type, data, idempotency_key)")
    items = []
    for index, item in enumerate(events):
        if not isinstance(item, Mapping):
            raise TypeError(f"events[{index}] must be a mapping, got {item.__class__.__name__}")
        data = item.get("data")
        if not isinstance(data, Mapping):
            raise TypeError(f"events[{index}].data must be a mapping (a JSON object)")
        key = item.get("idempotency_key")
        items.append(
            {
                "type": item.get("type"),
                "data": dict(data),
                "idempotencyKey": key if key is not None else str(uuid.uuid4()),
            }
        )
    return Operation(
        "POST", "events/batch", _batch_results, body={"events": items}, retry_safe=True
    )


def _batch_results(data: Any) -> list[PublishedEvent]:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return _list_of(PublishedEvent.from_json)(data.get("events"))


def event_catalog(*, category: str | None = None) -> Operation[list[EventType]]:
    """Every event type with its description and a sample ``data`` payload, or only those of
    one ``category`` (``"tickets"``, ``"customers"``, ...). Any API key may read it."""
    query = {"category": category} if category is not None else {}
    return Operation(
        "GET",
        "events",
        _list_of(EventType.from_json),
        query=query,
        retry_safe=True,
        team_scoped=False,
    )


# -- deliveries -------------------------------------------------------------------------------


def get_delivery(id: str) -> Operation[DeliveryDetail]:
    """One delivery with the body it sends and every attempt."""
    path = f"deliveries/{_segment(id, 'id')}"
    return Operation("GET", path, DeliveryDetail.from_json, retry_safe=True)


def resend_delivery(id: str) -> Operation[Delivery]:
    """Deliver again now, with a fresh retry schedule (same event id and body)."""
    path = f"deliveries/{_segment(id, 'id')}/resend"
    return Operation("POST", path, Delivery.from_json)


# -- API keys ---------------------------------------------------------------------------------


def list_keys(*, limit: int | None = None, cursor: str | None = None) -> PagedOperation[ApiKey]:
    """The team's API keys, newest first, revoked ones included (never the keys themselves).

    Returns the first page; iterate it to walk every page.
    """
    query = _page_query(limit, cursor)
    return PagedOperation(
        Operation("GET", "keys", _list_of(ApiKey.from_json), query=query, retry_safe=True)
    )


def create_key(
    *, type: KeyType = "secret", name: str | None = None, mode: KeyMode | None = None
) -> Operation[ApiKey]:
    """Create a secret or publishable key; the result's ``key`` is returned this once.

    ``mode`` defaults to the mode of the key making the request.
    """
    body: dict[str, Any] = {"type": type}
    if name is not None:
        body["name"] = name
    if mode is not None:
        body["mode"] = mode
    return Operation("POST", "keys", ApiKey.from_json, body=body)


def revoke_key(id: str) -> Operation[ApiKey]:
    """Revoke a key: it gets 401 from the next request on. The last active secret key cannot
    be revoked."""
    path = f"keys/{_segment(id, 'id')}"
    return Operation("DELETE", path, ApiKey.from_json, retry_safe=True)


# -- the account and its request log ----------------------------------------------------------


def get_status() -> Operation[Status]:
    """The key's team, type and mode, the server's version, and this key's rate-limit usage."""
    return Operation("GET", "status", Status.from_json, retry_safe=True, team_scoped=False)


def list_request_logs(
    *,
    method: str | None = None,
    status: int | str | None = None,
    after: int | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> PagedOperation[RequestLog]:
    """The API requests the server recorded for the team, newest first; ``method`` (``POST``)
    and ``status`` (``404`` or a class such as ``"4xx"``) filter them. With ``after`` (an
    entry's ``id``), only newer entries, oldest first: what following the log polls for.

    Returns the first page; iterate it to walk every page.
    """
    filters = {
        "method": method,
        "status": None if status is None else str(status),
        "after": None if after is None else str(int(after)),
    }
    query = _page_query(limit, cursor, **filters)
    return PagedOperation(
        Operation("GET", "logs", _list_of(RequestLog.from_json), query=query, retry_safe=True)
    )
