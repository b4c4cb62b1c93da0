"""The tools: each one's arguments (a pydantic model: its JSON schema is the tool's input schema,
and it validates every call) and what it does, on the async SDK.

A tool returns an ``Outcome``: a short summary for people and models, and the structured result
(JSON object, camelCase fields as the REST API has them). Anything that goes wrong becomes a
``ToolFailure`` in the API's error shape; ``invoke`` guarantees nothing else escapes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from cstar import events as catalog
from cstar.cli.mcp.connection import Connection, ToolFailure, log
from cstar.sdk import CStarError, Delivery, DeliveryDetail, Webhook

A = TypeVar("A", bound="Args")

#: Structured results are JSON objects.
Data = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    summary: str
    data: Data


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[A]):
    name: str
    title: str
    description: str
    args: type[A]
    run: Callable[[Connection, A], Awaitable[Outcome]]
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    #: Reaches beyond the cStar server (sends HTTP requests to webhook endpoints).
    open_world: bool = False

    def input_schema(self) -> dict[str, Any]:
        return tidy_schema(self.args.model_json_schema())


class Args(BaseModel):
    """Tool arguments: unknown ones are refused, so a misspelt parameter is never ignored."""

    model_config = ConfigDict(extra="forbid")


# -- argument types ---------------------------------------------------------------------------

EventName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
WebhookId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="The webhook's id (whk_...), as cstar_list_webhooks shows it."),
]
DeliveryId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="The delivery's id (dlv_...), as cstar_list_deliveries shows it."),
]
Limit = Annotated[int, Field(ge=1, le=100, description="Page size, 1 to 100.")]
Cursor = Annotated[
    str | None,
    Field(max_length=512, description="nextCursor of the previous page, to read the next one."),
]
EVENTS_HELP = (
    "Event types to subscribe to: exact names (ticket.created), one resource's every event "
    "(ticket.*) or everything (*). cstar_list_events lists the names."
)
CATEGORIES_HELP = "Only this category: " + ", ".join(catalog.category_slugs()) + "."
SCHEME_HELP = (
    "How deliveries are signed: cstar (the X-Signature header) or standard-webhooks (the "
    "webhook-id, webhook-timestamp and webhook-signature headers of the Standard Webhooks "
    "specification, which its libraries verify). cstar.webhook.construct_event verifies both."
)
HEADERS_HELP = (
    'Custom HTTP headers sent with every delivery, name to value, e.g. {"Authorization": '
    '"Bearer ..."}; at most 20. Names cStar sets itself (X-Signature, webhook-*, X-Event-*, '
    "X-Webhook-ID, X-Timestamp, Content-Type, User-Agent, Host, ...) are refused."
)
RATE_LIMIT_HELP = "At most this many deliveries per second to the endpoint, 1 to 10000."
ORDERING_HELP = (
    "none: deliveries run in parallel; fifo: one at a time, in the order events were published."
)
TIMEOUT_HELP = "Seconds one delivery attempt may take before it counts as failed, 1 to 30."
HEADERS_MAX = 20
RATE_LIMIT_MAX = 10_000
TIMEOUT_MAX = 30
#: The delivery controls, in the order the tools list them.
CONTROLS = ("signature_scheme", "headers", "rate_limit", "ordering", "timeout_seconds")
#: Controls where null is a value (no rate limit, the server's timeout), not "leave it".
NULLABLE_CONTROLS = frozenset({"rate_limit", "timeout_seconds"})


def _event_list(value: Any) -> Any:
    """Also take what models often send instead of an array: a JSON array in a string, or a
    comma-separated string (which the REST API accepts too)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return value
        return [part for part in (p.strip() for p in text.split(",")) if part]
    return value


def _nullable_count(high: int) -> WithJsonSchema:
    """The schema of an update's integer where null is a value (no rate limit, the server's
    timeout): ``tidy_schema`` would otherwise show it as a plain integer."""
    return WithJsonSchema({"type": ["integer", "null"], "minimum": 1, "maximum": high})


def _header_map(value: Any) -> Any:
    """Also take a JSON object sent as a string, as models sometimes do."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- results ----------------------------------------------------------------------------------


def _webhook_line(w: Webhook) -> str:
    state = "active" if w.is_active else "inactive"
    named = f' "{w.name}"' if w.name != w.url else ""
    line = f"{w.id}{named} {w.url} [{', '.join(w.events)}] {state}"
    if w.disabled_reason:
        line += f" (disabled: {w.disabled_reason})"
    if w.consecutive_failures:
        line += f", {w.consecutive_failures} consecutive failures"
    controls = _controls_text(w)
    return f"{line}; {controls}" if controls else line


def _controls_text(w: Webhook) -> str:
    """The delivery controls that differ from the defaults. Header names only: their values
    are often credentials, and this text is what gets quoted back to people."""
    parts = []
    if w.signature_scheme != "cstar":
        parts.append(f"signed {w.signature_scheme}")
    if w.headers:
        parts.append(f"headers {', '.join(w.headers)}")
    if w.rate_limit is not None:
        parts.append(f"at most {w.rate_limit}/s")
    if w.ordering != "none":
        parts.append(f"{w.ordering} ordering")
    if w.timeout_seconds is not None:
        parts.append(f"timeout {w.timeout_seconds} s")
    return ", ".join(parts)


def _delivery_outcome(d: Delivery) -> str:
    tries = f"{d.attempt_count} attempt{'s' if d.attempt_count != 1 else ''}"
    if d.status == "succeeded":
        return f"succeeded (HTTP {d.last_status}, {tries})"
    answer = f"HTTP {d.last_status}" if d.last_status is not None else (d.last_error or "")
    if d.attempt_count == 0:
        return f"{d.status}, not attempted yet"
    return f"{d.status} after {tries}" + (f": {answer}" if answer else "")


def _delivery_line(d: Delivery) -> str:
    return f"{d.id} {d.event_type} ({d.event_id}) to {d.webhook_id}: {_delivery_outcome(d)}"


def _page_data(key: str, items: Sequence[Any], has_more: bool, next_cursor: str | None) -> Data:
    return {
        key: [item.to_dict() for item in items],
        "count": len(items),
        "hasMore": has_more,
        "nextCursor": next_cursor,
    }


def _more(has_more: bool) -> str:
    return "\n(more: pass nextCursor as cursor for the next page)" if has_more else ""


# -- status and catalog -----------------------------------------------------------------------


class NoArgs(Args):
    pass


async def get_status(conn: Connection, args: NoArgs) -> Outcome:
    data = await conn.status()
    data = {**data, "baseUrl": conn.base_url, "keySource": conn.source}
    team = data.get("team") or {}
    key = data.get("key") or {}
    server = data.get("server") or {}
    rate = data.get("rateLimit") or {}
    lines = [
        f"Team {team.get('name')!r} ({team.get('id')})",
        f"Key: {key.get('mode')} {key.get('type')} key {key.get('prefix', '')}... "
        f"({key.get('name') or 'unnamed'}), from {conn.source}",
        f"Server: cStar Webhooks {server.get('version')} at {conn.base_url}"
        + (" (dev mode)" if server.get("dev") else "")
        + (f", {server.get('database')} database" if server.get("database") else ""),
    ]
    if rate:
        reset = rate.get("reset")
        left = ""
        if isinstance(reset, int | float):
            left = f", window resets in {max(0, round(reset - time.time()))} s"
        lines.append(
            f"Rate limit: {rate.get('remaining')} of {rate.get('limit')} requests left per "
            f"{rate.get('windowSeconds')} s{left}"
        )
    return Outcome("\n".join(lines), data)


class ListEventsArgs(Args):
    category: str | None = Field(None, max_length=64, description=CATEGORIES_HELP)
    include_samples: bool = Field(
        False, description="Include each event's sample data payload (as deliveries carry it)."
    )


async def list_events(conn: Connection, args: ListEventsArgs) -> Outcome:
    client = await conn.client()
    types = await client.events.catalog(category=args.category)
    rows = []
    for t in types:
        row = t.to_dict()
        if not args.include_samples:
            row.pop("sample", None)
        rows.append(row)
    where = f" in category {args.category}" if args.category else ""
    lines = [f"{len(types)} event types{where}:"]
    lines += [f"- {t.type} ({t.category}): {t.description}" for t in types]
    return Outcome("\n".join(lines), {"events": rows, "count": len(rows)})


# -- trigger and test -------------------------------------------------------------------------


class TriggerArgs(Args):
    event: EventName = Field(
        description="The event type to fire, e.g. ticket.created (see cstar_list_events)."
    )
    wait_seconds: float = Field(
        0,
        ge=0,
        le=30,
        description=(
            "Wait up to this many seconds for each delivery's first attempt and report how the "
            "endpoint answered. 0 returns at once, with the deliveries queued."
        ),
    )


async def _settle(
    conn: Connection, delivery_ids: Sequence[str], wait: float
) -> dict[str, DeliveryDetail]:
    """Each delivery as it stands after its first attempt, or when ``wait`` runs out."""
    client = await conn.client()
    latest: dict[str, DeliveryDetail] = {}
    waiting = list(delivery_ids)
    deadline = time.monotonic() + wait
    gate = asyncio.Semaphore(8)

    async def get(delivery_id: str) -> DeliveryDetail:
        async with gate:
            return await client.deliveries.get(delivery_id)

    while waiting:
        found = await asyncio.gather(*(get(i) for i in waiting))
        latest.update((d.id, d) for d in found)
        waiting = [d.id for d in found if d.status == "pending" and d.attempt_count == 0]
        remaining = deadline - time.monotonic()
        if not waiting or remaining <= 0:
            break
        await asyncio.sleep(min(0.2, remaining))
    return latest


async def trigger_webhook(conn: Connection, args: TriggerArgs) -> Outcome:
    client = await conn.client()
    result = await client.webhooks.trigger_test(args.event)
    data: Data = result.to_dict()
    if not result.deliveries:
        summary = (
            f"No active webhook subscribes to {result.event}, so nothing was sent (test event "
            f"{result.event_id}). Subscribe one with cstar_create_webhook or "
            "cstar_update_webhook; cstar_list_webhooks shows what exists."
        )
        return Outcome(summary, data)
    webhooks: dict[str, Webhook] = {}
    try:
        async for w in client.webhooks.list(limit=100):
            webhooks[w.id] = w
    except CStarError as exc:  # the trigger worked; only the URLs are missing
        log.info("could not list webhooks to name the trigger's targets: %s", exc)
    settled: dict[str, DeliveryDetail] = {}
    if args.wait_seconds > 0:
        ids = [q.delivery_id for q in result.deliveries]
        settled = await _settle(conn, ids, args.wait_seconds)
    rows = []
    lines = [
        f"Fired a test {result.event} ({result.event_id}) to {result.delivered_to} "
        f"webhook{'s' if result.delivered_to != 1 else ''}:"
    ]
    for queued in result.deliveries:
        hook = webhooks.get(queued.webhook_id)
        row: Data = {"deliveryId": queued.delivery_id, "webhookId": queued.webhook_id}
        if hook is not None:
            row |= {"name": hook.name, "url": hook.url}
        delivery = settled.get(queued.delivery_id)
        outcome = "queued"
        if delivery is not None:
            row |= {
                key: delivery.raw.get(key)
                for key in ("status", "attemptCount", "lastStatus", "lastError")
            }
            outcome = _delivery_outcome(delivery)
        rows.append(row)
        target = f"{hook.url} ({queued.webhook_id})" if hook else queued.webhook_id
        lines.append(f"- {target}: delivery {queued.delivery_id}, {outcome}")
    if args.wait_seconds == 0:
        lines.append("Deliveries run in the background: cstar_get_delivery shows each attempt.")
    data["deliveries"] = rows
    return Outcome("\n".join(lines), data)


class TestWebhookArgs(Args):
    webhook_id: WebhookId
    event: EventName | None = Field(
        None,
        description=(
            "The event type to send a sample of. Default: the first event the webhook "
            "subscribes to."
        ),
    )


def _first_event(patterns: Sequence[str]) -> str:
    for pattern in patterns:
        for known in catalog.event_types_in():
            if catalog.pattern_matches(pattern, known.name):
                return known.name
    return "ticket.created"


async def test_webhook(conn: Connection, args: TestWebhookArgs) -> Outcome:
    client = await conn.client()
    event = args.event or _first_event((await client.webhooks.get(args.webhook_id)).events)
    result = await client.webhooks.test(args.webhook_id, event)
    if result.success:
        how = f"answered HTTP {result.status} in {result.response_time_ms} ms"
    elif result.status is not None:
        how = f"FAILED: answered HTTP {result.status} in {result.response_time_ms} ms"
    else:
        how = f"FAILED: {result.error or 'no answer'}"
    summary = (
        f"Sent a sample {result.event} to {result.url}: {how} (delivery {result.delivery_id}; "
        "test sends are not retried and do not count towards the webhook's health)."
    )
    return Outcome(summary, result.to_dict())


# -- webhooks ---------------------------------------------------------------------------------


class ListWebhooksArgs(Args):
    active: bool | None = Field(
        None, description="true: only active webhooks; false: only inactive ones; omit: all."
    )
    limit: Limit = 20
    cursor: Cursor = None


async def list_webhooks(conn: Connection, args: ListWebhooksArgs) -> Outcome:
    client = await conn.client()
    page = await client.webhooks.list(active=args.active, limit=args.limit, cursor=args.cursor)
    if not page.data:
        summary = "No webhooks" + (" match" if args.active is not None else " yet") + "."
    else:
        summary = "\n".join(
            [f"{len(page.data)} webhooks:"] + [f"- {_webhook_line(w)}" for w in page.data]
        )
    data = _page_data("webhooks", page.data, page.has_more, page.next_cursor)
    return Outcome(summary + _more(page.has_more), data)


class GetWebhookArgs(Args):
    webhook_id: WebhookId


async def get_webhook(conn: Connection, args: GetWebhookArgs) -> Outcome:
    client = await conn.client()
    webhook = await client.webhooks.get(args.webhook_id)
    return Outcome(_webhook_line(webhook), {"webhook": webhook.to_dict()})


class CreateWebhookArgs(Args):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="Where to POST deliveries: an https:// URL (http:// only when the cStar "
        "server runs with --dev).",
    )
    events: list[EventName] = Field(min_length=1, max_length=100, description=EVENTS_HELP)
    name: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="A name to recognise it by (default: the URL).",
    )
    is_active: bool = Field(True, description="false creates it paused.")
    signature_scheme: Literal["cstar", "standard-webhooks"] = Field(
        "cstar", description=SCHEME_HELP
    )
    headers: dict[str, str] = Field(
        default_factory=dict, max_length=HEADERS_MAX, description=HEADERS_HELP
    )
    rate_limit: int | None = Field(
        None, ge=1, le=RATE_LIMIT_MAX, description=RATE_LIMIT_HELP + " Default: no limit."
    )
    ordering: Literal["none", "fifo"] = Field("none", description=ORDERING_HELP)
    timeout_seconds: int | None = Field(
        None,
        ge=1,
        le=TIMEOUT_MAX,
        description=TIMEOUT_HELP + " Default: the server's delivery timeout.",
    )

    @field_validator("events", mode="before")
    @classmethod
    def split_events(cls, value: Any) -> Any:
        return _event_list(value)

    @field_validator("headers", mode="before")
    @classmethod
    def parse_headers(cls, value: Any) -> Any:
        return _header_map(value)


def _given_controls(args: CreateWebhookArgs | UpdateWebhookArgs) -> dict[str, Any]:
    """The delivery controls the call gave, for the SDK: only those, so the server's own
    defaults apply to the rest (and an update leaves them as they are). null counts as given
    only where it means something."""
    given: dict[str, Any] = {}
    for name in CONTROLS:
        value = getattr(args, name)
        if name in args.model_fields_set and (value is not None or name in NULLABLE_CONTROLS):
            given[name] = value
    return given


def _verify_hint(scheme: str) -> str:
    if scheme == "standard-webhooks":
        return (
            "Receivers verify the webhook-id, webhook-timestamp and webhook-signature headers "
            "with it (any Standard Webhooks library, or cstar.webhook.construct_event)."
        )
    return "Receivers verify the X-Signature header with it (cstar.webhook.construct_event)."


SHOWN_ONCE = (
    "The signing secret is shown only this once: store it now where the receiver can read it "
    "(e.g. CSTAR_WEBHOOK_SECRET). It cannot be retrieved later; rotating the secret issues a "
    "new one."
)


async def create_webhook(conn: Connection, args: CreateWebhookArgs) -> Outcome:
    client = await conn.client()
    webhook = await client.webhooks.create(
        url=args.url,
        events=args.events,
        name=args.name,
        is_active=args.is_active,
        **_given_controls(args),
    )
    summary = (
        f"Created webhook {_webhook_line(webhook)}.\n"
        f"Signing secret: {webhook.secret}\n{SHOWN_ONCE} {_verify_hint(webhook.signature_scheme)}"
    )
    return Outcome(summary, {"webhook": webhook.to_dict(), "secretNote": SHOWN_ONCE})


class UpdateWebhookArgs(Args):
    webhook_id: WebhookId
    name: str | None = Field(None, min_length=1, max_length=200, description="A new name.")
    url: str | None = Field(None, min_length=1, max_length=2048, description="A new URL.")
    events: list[EventName] | None = Field(
        None, min_length=1, max_length=100, description=EVENTS_HELP + " Replaces the list."
    )
    is_active: bool | None = Field(
        None, description="false pauses the webhook (deliveries wait); true resumes it."
    )
    signature_scheme: Literal["cstar", "standard-webhooks"] | None = Field(
        None,
        description=SCHEME_HELP + " Receivers must verify the new headers from the next "
        "delivery on.",
    )
    headers: dict[str, str] | None = Field(
        None,
        max_length=HEADERS_MAX,
        description=HEADERS_HELP + " Replaces the whole set; {} removes them all.",
    )
    rate_limit: Annotated[int | None, _nullable_count(RATE_LIMIT_MAX)] = Field(
        None, ge=1, le=RATE_LIMIT_MAX, description=RATE_LIMIT_HELP + " null removes the limit."
    )
    ordering: Literal["none", "fifo"] | None = Field(None, description=ORDERING_HELP)
    timeout_seconds: Annotated[int | None, _nullable_count(TIMEOUT_MAX)] = Field(
        None,
        ge=1,
        le=TIMEOUT_MAX,
        description=TIMEOUT_HELP + " null goes back to the server's delivery timeout.",
    )

    @field_validator("events", mode="before")
    @classmethod
    def split_events(cls, value: Any) -> Any:
        return _event_list(value)

    @field_validator("headers", mode="before")
    @classmethod
    def parse_headers(cls, value: Any) -> Any:
        return _header_map(value)


UPDATABLE = ("name", "url", "events", "is_active", *CONTROLS)


async def update_webhook(conn: Connection, args: UpdateWebhookArgs) -> Outcome:
    fields: dict[str, Any] = {
        name: value
        for name in ("name", "url", "events", "is_active")
        if (value := getattr(args, name)) is not None
    }
    fields |= _given_controls(args)
    if not fields:
        raise ToolFailure(
            f"Nothing to change: give at least one of {', '.join(UPDATABLE)}",
            type="validation_error",
            code="PARAMETER_MISSING",
        )
    client = await conn.client()
    webhook = await client.webhooks.update(args.webhook_id, **fields)
    changed = ", ".join(fields)
    return Outcome(f"Updated {changed}: {_webhook_line(webhook)}", {"webhook": webhook.to_dict()})


class DeleteWebhookArgs(Args):
    webhook_id: WebhookId


async def delete_webhook(conn: Connection, args: DeleteWebhookArgs) -> Outcome:
    client = await conn.client()
    deleted = await client.webhooks.delete(args.webhook_id)
    return Outcome(f"Deleted webhook {deleted.id}.", deleted.to_dict())


# -- deliveries -------------------------------------------------------------------------------


class ListDeliveriesArgs(Args):
    webhook_id: WebhookId
    status: Literal["pending", "paused", "succeeded", "failed"] | None = Field(
        None,
        description="Only this status. pending: waiting for its next attempt (maybe after "
        "failures); paused: the webhook is inactive; failed: out of retries.",
    )
    event_type: EventName | None = Field(None, description="Only this event type.")
    limit: Limit = 20
    cursor: Cursor = None


async def list_deliveries(conn: Connection, args: ListDeliveriesArgs) -> Outcome:
    client = await conn.client()
    page = await client.webhooks.deliveries(
        args.webhook_id,
        status=args.status,
        event_type=args.event_type,
        limit=args.limit,
        cursor=args.cursor,
    )
    if not page.data:
        summary = f"No deliveries to {args.webhook_id}" + (
            " match." if args.status or args.event_type else " yet."
        )
    else:
        summary = "\n".join(
            [f"{len(page.data)} deliveries, newest first:"]
            + [f"- {_delivery_line(d)}" for d in page.data]
        )
    data = _page_data("deliveries", page.data, page.has_more, page.next_cursor)
    return Outcome(summary + _more(page.has_more), data)


class GetDeliveryArgs(Args):
    delivery_id: DeliveryId


async def get_delivery(conn: Connection, args: GetDeliveryArgs) -> Outcome:
    client = await conn.client()
    delivery = await client.deliveries.get(args.delivery_id)
    lines = [_delivery_line(delivery)]
    for a in delivery.attempts:
        answer = f"HTTP {a.status}" if a.status is not None else (a.error or "no answer")
        lines.append(
            f"- attempt {a.attempt} at {a.started_at.isoformat()}: {answer} in {a.duration_ms} ms"
            + (f" ({a.error})" if a.error and a.status is not None else "")
        )
    if delivery.next_attempt_at is not None and delivery.status == "pending":
        lines.append(f"Next attempt at {delivery.next_attempt_at.isoformat()}.")
    return Outcome("\n".join(lines), {"delivery": delivery.to_dict()})


class ResendDeliveryArgs(Args):
    delivery_id: DeliveryId


async def resend_delivery(conn: Connection, args: ResendDeliveryArgs) -> Outcome:
    client = await conn.client()
    delivery = await client.deliveries.resend(args.delivery_id)
    summary = (
        f"Queued {delivery.id} again ({delivery.event_type}, same event id {delivery.event_id} "
        "and body) with a fresh retry schedule. cstar_get_delivery shows how it goes."
    )
    return Outcome(summary, {"delivery": delivery.to_dict()})


# -- the list ---------------------------------------------------------------------------------

TOOLS: tuple[ToolSpec[Any], ...] = (
    ToolSpec(
        "cstar_trigger_webhook",
        "Fire a test webhook event",
        "Fire a test event: a sample payload of the given event type is delivered, signed and "
        "retried like a real one, to every active webhook subscribed to it and to any `cstar "
        "listen` session (like `cstar trigger ticket.created`). Returns the event id and "
        "where it went: each delivery with its webhook's id and URL, and, with wait_seconds, "
        "how each endpoint answered.",
        TriggerArgs,
        trigger_webhook,
        open_world=True,
    ),
    ToolSpec(
        "cstar_list_events",
        "List webhook event types",
        "The catalog of webhook event types (ticket.created, customer.updated, ...) with what "
        "each means, optionally one category only and with sample payloads.",
        ListEventsArgs,
        list_events,
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_get_status",
        "Connection status",
        "Who this MCP server acts as and where: the team, the API key's type (secret or "
        "publishable) and mode (test or live), the cStar server's version, and the key's "
        "rate-limit usage in the current window.",
        NoArgs,
        get_status,
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_list_webhooks",
        "List webhooks",
        "The team's webhook endpoints, newest first: id, name, URL, subscribed events, active or "
        "not, delivery controls (signature scheme, custom headers, rate limit, ordering, "
        "timeout) and delivery health (consecutive failures, last delivery, why it was "
        "disabled). Never their signing secrets. One page at a time (limit, cursor).",
        ListWebhooksArgs,
        list_webhooks,
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_get_webhook",
        "Get a webhook",
        "One webhook by id, with its delivery controls and delivery health. Never its signing "
        "secret.",
        GetWebhookArgs,
        get_webhook,
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_create_webhook",
        "Create a webhook",
        "Register an endpoint URL for some event types, optionally with delivery controls: "
        "the signature scheme (cstar or standard-webhooks), custom headers, a rate limit, "
        "FIFO ordering and a timeout. The result includes the webhook's signing secret "
        "(whsec_...), returned this once only: tell the user to store it, since receivers "
        "need it to verify deliveries and it cannot be read again.",
        CreateWebhookArgs,
        create_webhook,
    ),
    ToolSpec(
        "cstar_update_webhook",
        "Update a webhook",
        "Change a webhook's name, URL, subscribed events (the list is replaced), active "
        "state or delivery controls (signature scheme, custom headers (the set is replaced), "
        "rate limit, ordering, timeout); fields left out stay as they are, and null clears "
        "the rate limit or the timeout. is_active=false pauses deliveries without losing them.",
        UpdateWebhookArgs,
        update_webhook,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_delete_webhook",
        "Delete a webhook",
        "Delete a webhook for good: it receives nothing more. To stop deliveries for a while, "
        "use cstar_update_webhook with is_active=false instead.",
        DeleteWebhookArgs,
        delete_webhook,
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_test_webhook",
        "Send a test delivery",
        "Send a sample event to one webhook now and report how its endpoint answered (status, "
        "time, error). One attempt, no retries; it does not count towards the webhook's health.",
        TestWebhookArgs,
        test_webhook,
        open_world=True,
    ),
    ToolSpec(
        "cstar_list_deliveries",
        "List deliveries",
        "A webhook's deliveries, newest first, optionally only one status or event type: each "
        "with its event, attempts so far, last HTTP status or error, and next attempt time.",
        ListDeliveriesArgs,
        list_deliveries,
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_get_delivery",
        "Get a delivery",
        "One delivery with the exact JSON body it sends and every attempt: request headers as "
        "sent (signature included), status, duration, the first bytes of the answer, the error.",
        GetDeliveryArgs,
        get_delivery,
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "cstar_resend_delivery",
        "Resend a delivery",
        "Deliver a delivery again now (same event id and body, signed afresh) with a fresh "
        "retry schedule: for a failed delivery once its endpoint is fixed.",
        ResendDeliveryArgs,
        resend_delivery,
        open_world=True,
    ),
)

BY_NAME: Mapping[str, ToolSpec[Any]] = {tool.name: tool for tool in TOOLS}


# -- calling ----------------------------------------------------------------------------------


def _invalid_arguments(spec: ToolSpec[Any], exc: pydantic.ValidationError) -> ToolFailure:
    errors = exc.errors(include_url=False, include_input=False)
    known = ", ".join(spec.args.model_fields) or "none"
    messages = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        if error["type"] == "extra_forbidden":
            messages.append(f"{where}: unknown parameter (the parameters are: {known})")
        else:
            messages.append(f"{where}: {error['msg']}")
    first = errors[0] if errors else None
    param = str(first["loc"][0]) if first and first["loc"] else None
    missing = first is not None and first["type"] == "missing"
    return ToolFailure(
        "; ".join(messages) or str(exc),
        type="validation_error",
        code="PARAMETER_MISSING" if missing else "PARAMETER_INVALID",
        param=param,
    )


async def invoke(spec: ToolSpec[Any], conn: Connection, arguments: Mapping[str, Any]) -> Outcome:
    """Run a tool. Raises ``ToolFailure`` and nothing else (cancellation aside)."""
    try:
        args = spec.args.model_validate(dict(arguments))
    except pydantic.ValidationError as exc:
        raise _invalid_arguments(spec, exc) from None
    try:
        return await spec.run(conn, args)
    except ToolFailure:
        raise
    except CStarError as exc:
        raise ToolFailure.of(exc, conn.base_url) from None
    except Exception as exc:
        log.exception("tool %s failed unexpectedly", spec.name)
        raise ToolFailure(
            f"cstar mcp-server failed: {type(exc).__name__}: {exc}",
            type="internal_error",
            code="internal_error",
            hint="This is a bug in cstar mcp-server; its stderr log has the traceback.",
        ) from None


# -- schemas ----------------------------------------------------------------------------------


def tidy_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's schema, made plainer for models: no titles, and an optional parameter is its
    type (``{"type": "string"}``) rather than ``anyOf [string, null]`` (null is still taken)."""
    properties: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        options = prop.get("anyOf")
        if isinstance(options, list):
            kept = [o for o in options if o != {"type": "null"}]
            if len(kept) == 1 and len(kept) < len(options):
                prop.pop("anyOf")
                prop = {**kept[0], **prop}
        if prop.get("default", ...) is None:
            prop.pop("default")
        properties[name] = prop
    tidy: dict[str, Any] = {"type": "object", "properties": properties}
    if schema.get("required"):
        tidy["required"] = list(schema["required"])
    tidy["additionalProperties"] = False
    return tidy
