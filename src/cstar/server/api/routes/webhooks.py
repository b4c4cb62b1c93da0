"""Webhook management endpoints of seed 002, plus rotate-secret."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query
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
from cstar.server.api.schemas import (
    DeletedEnvelope,
    RotateSecret,
    WebhookCreate,
    WebhookCreatedEnvelope,
    WebhookEnvelope,
    WebhookListEnvelope,
    WebhookPatch,
    WebhookRotatedEnvelope,
)
from cstar.server.domain.errors import InvalidParameter
from cstar.server.services.webhooks import WebhookDraft, WebhookUpdate

router = APIRouter(prefix="/api/v1/teams/{teamId}/webhooks", tags=["Webhooks"])


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
        "immediately. Requires a secret API key."
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
        WebhookDraft(name=body.name, url=body.url, events=body.events, is_active=body.is_active),
    )
    return envelope.success(
        views.webhook_with_secret(created.webhook, created.secret), rid, status_code=201
    )


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
        "Update an existing webhook: change the URL, events, or toggle active status. "
        "Requires a secret API key."
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
    for field in ("name", "url", "events", "is_active"):
        if field in body.model_fields_set and getattr(body, field) is None:
            param = "isActive" if field == "is_active" else field
            raise InvalidParameter(param, f"{param} cannot be null")
    updated = await c.webhooks.update(
        team_id,
        webhook_id,
        WebhookUpdate(name=body.name, url=body.url, events=body.events, is_active=body.is_active),
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
