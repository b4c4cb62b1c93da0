"""The event catalog: every event type with its description and a sample payload."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from starlette.responses import Response

from cstar import events
from cstar.server.api import envelope, views
from cstar.server.api.deps import ContainerDep, RequestIdDep, responses
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import EventTypeListEnvelope
from cstar.server.domain.errors import InvalidParameter

router = ApiRouter(prefix="/api/v1", tags=["Events"])


@router.get(
    "/events",
    summary="List Event Types",
    description=(
        "The catalog of webhook event types, grouped by category, each with a description and "
        "a sample `data` payload. Any API key (secret or publishable) may read it."
    ),
    responses=responses(200, EventTypeListEnvelope, "Array of event types", 400),
)
async def list_event_types(
    c: ContainerDep,
    rid: RequestIdDep,
    category: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Only this category: " + ", ".join(events.category_slugs()),
        ),
    ] = None,
) -> Response:
    if category is not None and category not in events.category_slugs():
        raise InvalidParameter(
            "category",
            f"Unknown category: {category} (one of {', '.join(events.category_slugs())})",
        )
    base = c.settings.dashboard_base_url
    return envelope.success(
        [views.event_type(e, dashboard_base_url=base) for e in events.event_types_in(category)],
        rid,
    )
