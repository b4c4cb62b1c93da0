"""Publishing events: POST /api/v1/teams/{teamId}/events, and /events/batch for up to 100."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from starlette.responses import Response

from cstar.server.api import envelope, views
from cstar.server.api.deps import ContainerDep, RequestIdDep, TeamId, responses
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import (
    PublishBatch,
    PublishedBatchEnvelope,
    PublishedEnvelope,
    PublishEvent,
)

router = ApiRouter(prefix="/api/v1/teams/{teamId}/events", tags=["Events"])


@router.post(
    "",
    status_code=202,
    summary="Publish Event",
    description=(
        "Store an event and queue one delivery to every active webhook subscribed to its type, "
        "in one transaction: once this answers, no crash loses the event. The same "
        "`idempotencyKey` within 24 hours returns the first event (with `replayed: true` and an "
        "`Idempotent-Replayed: true` header) and queues nothing new."
    ),
    responses=responses(
        202, PublishedEnvelope, "Event stored and deliveries queued", 400, 403, 413
    ),
)
async def publish_event(
    team_id: TeamId, body: Annotated[PublishEvent, Body()], c: ContainerDep, rid: RequestIdDep
) -> Response:
    outcome = await c.events.publish(
        team_id,
        body.type,
        body.data,
        idempotency_key=body.idempotency_key,
        request_id=rid,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return envelope.success(views.published(outcome), rid, status_code=202, headers=headers)


@router.post(
    "/batch",
    status_code=202,
    summary="Publish Events In A Batch",
    description=(
        "Store 1 to 100 events and their deliveries in one transaction, all or nothing: an item "
        "that would be refused alone refuses the whole batch with a 400 whose `param` names it "
        "(`events[3].type`). The answer lists one result per event, in order. An item whose "
        "`idempotencyKey` was used within 24 hours, or earlier in the same batch, returns that "
        "first event with `replayed: true` and queues nothing new."
    ),
    responses=responses(
        202, PublishedBatchEnvelope, "Events stored and deliveries queued", 400, 403, 413
    ),
)
async def publish_batch(
    team_id: TeamId, body: Annotated[PublishBatch, Body()], c: ContainerDep, rid: RequestIdDep
) -> Response:
    outcomes = await c.events.publish_batch(
        team_id,
        [(e.type, e.data, e.idempotency_key) for e in body.events],
        request_id=rid,
    )
    data = {"events": [views.published(o) for o in outcomes]}
    return envelope.success(data, rid, status_code=202)
