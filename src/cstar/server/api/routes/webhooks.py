"""Webhook management endpoints of seed 002, plus rotate-secret."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Body, Query
from starlette.responses import Response

from cstar.server.api import envelope, views
from cstar.server.api.deps import (
    ContainerDep,
    PageDep,
    RequestIdDep,
    TeamId,
    WebhookId,
    responses,
)
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import (
    DeletedEnvelope,
    DeliveryListEnvelope,
    EventRef,
    Recover,
    RecoveredEnvelope,
    RotateSecret,
    TestSendEnvelope,
    TriggerTestEnvelope,
    WebhookCreate,
    WebhookCreatedEnvelope,
    WebhookEnvelope,
    WebhookListEnvelope,
    WebhookPatch,
    WebhookRotatedEnvelope,
)
from cstar.server.domain.clock import iso_z
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.domain.errors import InvalidParameter
from cstar.server.services.webhooks import UNSET, WebhookDraft, WebhookUpdate

router = ApiRouter(prefix="/api/v1/teams/{teamId}/webhooks", tags=["Webhooks"])

DeliveryStatusFilter = Literal["pending", "paused", "succeeded", "failed"]


@router.get(
    "",
    summary="List Webhooks",
    description="Retrieve all configured webhooks for your team, newest first.",
    responses=responses(200, WebhookListEnvelope, "Array of webhooks", 400, 403),
)
async def list_webhooks(
    team_id: TeamId,
    page: PageDep,
    c: ContainerDep,
    rid: RequestIdDep,
    active: Annotated[
        bool | None, Query(description="Only active (true) or inactive (false) webhooks")
    ] = None,
) -> Response:
    result = await c.webhooks.list(team_id, active=active, page=page)
    return envelope.success(
        [views.webhook(w) for w in result.items],
        rid,
        pagination=views.pagination(result, page.limit),
    )


@router.post(
    "",
    status_code=201,
    summary="Create Webhook",
    description=(
        "Create a new webhook subscription. The signing secret is returned once: save it "
        "immediately. Requires a secret API key. A team has at most "
        "`CSTAR_MAX_WEBHOOKS_PER_TEAM` (100) webhooks."
    ),
    responses=responses(
        201, WebhookCreatedEnvelope, "Webhook created with signing secret", 400, 403, 413
    ),
)
async def create_webhook(
    team_id: TeamId, body: Annotated[WebhookCreate, Body()], c: ContainerDep, rid: RequestIdDep
) -> Response:
    created = await c.webhooks.create(
        team_id,
        WebhookDraft(
            name=body.name,
            url=body.url,
            events=body.events,
            is_active=body.is_active,
            signature_scheme=body.signature_scheme,
            headers=body.headers,
            rate_limit=body.rate_limit,
            ordering=body.ordering,
            timeout_seconds=body.timeout_seconds,
        ),
        limit=c.settings.max_webhooks_per_team,
    )
    return envelope.success(
        views.webhook_with_secret(created.webhook, created.secret), rid, status_code=201
    )


@router.post(
    "/trigger-test",
    summary="Trigger Test Event",
    description=(
        "Fire a test event (a sample of the given type) to all active webhooks subscribed to "
        "it. Deliveries are queued and retried like any other; `deliveredTo` counts them. "
        "Also available via CLI: `cstar trigger <event>`."
    ),
    responses=responses(200, TriggerTestEnvelope, "Test event dispatched", 400, 403, 413),
)
async def trigger_test(
    team_id: TeamId, body: Annotated[EventRef, Body()], c: ContainerDep, rid: RequestIdDep
) -> Response:
    outcome = await c.events.trigger_test(team_id, body.event, request_id=rid)
    return envelope.success(views.trigger_test(outcome), rid)


@router.get(
    "/{webhookId}",
    summary="Get Webhook",
    description="Retrieve a single webhook by ID. The signing secret is never included.",
    responses=responses(200, WebhookEnvelope, "The webhook object", 403, 404),
)
async def get_webhook(
    team_id: TeamId, webhook_id: WebhookId, c: ContainerDep, rid: RequestIdDep
) -> Response:
    return envelope.success(views.webhook(await c.webhooks.get(team_id, webhook_id)), rid)


@router.patch(
    "/{webhookId}",
    summary="Update Webhook",
    description=(
        "Update an existing webhook: change the URL, events, active status, or its delivery "
        "controls (signatureScheme, headers, rateLimit, ordering, timeoutSeconds). Fields left "
        "out stay as they are. Requires a secret API key."
    ),
    responses=responses(200, WebhookEnvelope, "Updated webhook", 400, 403, 404, 413),
)
async def update_webhook(
    team_id: TeamId,
    webhook_id: WebhookId,
    body: Annotated[WebhookPatch, Body()],
    c: ContainerDep,
    rid: RequestIdDep,
) -> Response:
    given = body.model_fields_set
    for field in ("name", "url", "events", "is_active", "signature_scheme", "ordering"):
        if field in given and getattr(body, field) is None:
            param = WebhookPatch.model_fields[field].alias or field
            raise InvalidParameter(param, f"{param} cannot be null")
    updated = await c.webhooks.update(
        team_id,
        webhook_id,
        WebhookUpdate(
            name=body.name,
            url=body.url,
            events=body.events,
            is_active=body.is_active,
            signature_scheme=body.signature_scheme,
            # null removes them all, as {} does
            headers=({} if body.headers is None else body.headers) if "headers" in given else None,
            rate_limit=body.rate_limit if "rate_limit" in given else UNSET,
            ordering=body.ordering,
            timeout_seconds=body.timeout_seconds if "timeout_seconds" in given else UNSET,
        ),
    )
    return envelope.success(views.webhook(updated), rid)


@router.delete(
    "/{webhookId}",
    summary="Delete Webhook",
    description="Permanently delete a webhook subscription. Requires a secret API key.",
    responses=responses(200, DeletedEnvelope, "Webhook deleted", 403, 404),
)
async def delete_webhook(
    team_id: TeamId, webhook_id: WebhookId, c: ContainerDep, rid: RequestIdDep
) -> Response:
    await c.webhooks.delete(team_id, webhook_id)
    return envelope.success({"id": webhook_id, "deleted": True}, rid)


@router.post(
    "/{webhookId}/rotate-secret",
    summary="Rotate Signing Secret",
    description=(
        "Replace the webhook's signing secret and return the new one, once. With "
        "`gracePeriodSeconds` the old secret keeps signing beside the new one until then, so "
        "receivers can switch without dropping deliveries."
    ),
    responses=responses(200, WebhookRotatedEnvelope, "New signing secret", 400, 403, 404, 413),
)
async def rotate_secret(
    team_id: TeamId,
    webhook_id: WebhookId,
    c: ContainerDep,
    rid: RequestIdDep,
    body: Annotated[RotateSecret | None, Body()] = None,
) -> Response:
    grace = timedelta(seconds=body.grace_period_seconds if body else 0)
    rotated = await c.webhooks.rotate_secret(team_id, webhook_id, grace_period=grace)
    return envelope.success(views.rotated_webhook(rotated.webhook, rotated.secret), rid)


@router.post(
    "/{webhookId}/test",
    summary="Send Test Delivery",
    description=(
        "Send a sample of the given event to this webhook now, wait for the answer, log it, "
        "and return the result. One attempt, no retries; it does not count towards the "
        "webhook's health."
    ),
    responses=responses(200, TestSendEnvelope, "The result of the test delivery", 400, 403, 404),
)
async def test_webhook(
    team_id: TeamId,
    webhook_id: WebhookId,
    body: Annotated[EventRef, Body()],
    c: ContainerDep,
    rid: RequestIdDep,
) -> Response:
    result = await c.deliveries.send_test(team_id, webhook_id, body.event, request_id=rid)
    return envelope.success(views.test_send(result), rid)


@router.get(
    "/{webhookId}/deliveries",
    summary="List Deliveries",
    description="This webhook's deliveries, newest first, filtered by status and event type.",
    responses=responses(200, DeliveryListEnvelope, "Array of deliveries", 400, 403, 404),
)
async def list_deliveries(
    team_id: TeamId,
    webhook_id: WebhookId,
    page: PageDep,
    c: ContainerDep,
    rid: RequestIdDep,
    status: Annotated[DeliveryStatusFilter | None, Query(description="Only this status")] = None,
    event_type: Annotated[
        str | None, Query(alias="eventType", max_length=100, description="Only this event type")
    ] = None,
) -> Response:
    result = await c.deliveries.list(
        team_id,
        webhook_id,
        status=DeliveryStatus(status) if status else None,
        event_type=event_type,
        page=page,
    )
    return envelope.success(
        [views.delivery(d) for d in result.items],
        rid,
        pagination=views.pagination(result, page.limit),
    )


@router.post(
    "/{webhookId}/recover",
    status_code=202,
    summary="Recover Failed Deliveries",
    description=(
        "Re-queue this webhook's failed deliveries created since `since`, each with a fresh "
        "retry schedule: for after an outage of the receiving end."
    ),
    responses=responses(
        202, RecoveredEnvelope, "How many deliveries were re-queued", 400, 403, 404
    ),
)
async def recover(
    team_id: TeamId,
    webhook_id: WebhookId,
    body: Annotated[Recover, Body()],
    c: ContainerDep,
    rid: RequestIdDep,
) -> Response:
    count = await c.deliveries.recover(team_id, webhook_id, body.since)
    return envelope.success(
        {"webhookId": webhook_id, "since": iso_z(body.since), "requeued": count},
        rid,
        status_code=202,
    )
