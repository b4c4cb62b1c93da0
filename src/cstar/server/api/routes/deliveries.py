"""Delivery logs: one delivery with its attempts, and resending it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from starlette.responses import Response

from cstar.server.api import envelope, views
from cstar.server.api.deps import ContainerDep, RequestIdDep, TeamId, responses
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import DeliveryDetailEnvelope, DeliveryEnvelope

router = ApiRouter(prefix="/api/v1/teams/{teamId}/deliveries", tags=["Deliveries"])

DeliveryId = Annotated[str, Path(alias="deliveryId", description="The delivery ID (dlv_ prefix)")]


@router.get(
    "/{deliveryId}",
    summary="Get Delivery",
    description=(
        "One delivery with the event body it sends and every attempt: request headers as sent, "
        "status, response time, the first bytes of the answer, the error."
    ),
    responses=responses(200, DeliveryDetailEnvelope, "The delivery and its attempts", 403, 404),
)
async def get_delivery(
    team_id: TeamId, delivery_id: DeliveryId, c: ContainerDep, rid: RequestIdDep
) -> Response:
    return envelope.success(
        views.delivery_detail(await c.deliveries.get(team_id, delivery_id)), rid
    )


@router.post(
    "/{deliveryId}/resend",
    status_code=202,
    summary="Resend Delivery",
    description=(
        "Deliver again now (same event id and body, the attempt count continues) with a fresh "
        "retry schedule. A delivery of an inactive webhook waits until it is re-enabled."
    ),
    responses=responses(202, DeliveryEnvelope, "Queued again", 403, 404),
)
async def resend_delivery(
    team_id: TeamId, delivery_id: DeliveryId, c: ContainerDep, rid: RequestIdDep
) -> Response:
    delivery = await c.deliveries.resend(team_id, delivery_id)
    return envelope.success(views.delivery(delivery), rid, status_code=202)
