"""The API request log: GET /api/v1/teams/{teamId}/logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from starlette.responses import Response

from cstar.server.api import envelope, views
from cstar.server.api.deps import ContainerDep, RequestIdDep, TeamId, responses
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import RequestLogListEnvelope
from cstar.server.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT
from cstar.server.domain.request_logs import (
    MAX_ID,
    METHODS,
    LogCursor,
    RequestLogQuery,
    parse_method,
    parse_status,
)

router = ApiRouter(prefix="/api/v1/teams/{teamId}/logs", tags=["Request logs"])


@router.get(
    "",
    summary="List Request Logs",
    description=(
        "The team's API requests, newest first: method, path (with the names, never the "
        "values, of query parameters), status, duration, request id and the prefix of the key "
        "that made each. Requests that failed authentication (401) belong to no team and are "
        "not listed; successful reads of this list are not recorded. With `after`, only "
        "entries with a greater `id`, oldest first: poll with the highest `id` seen to follow "
        "new requests (`cstar logs --tail`). Entries appear within about a second and are kept "
        "for `CSTAR_LOG_RETENTION` (30 days). Needs a secret key."
    ),
    responses=responses(200, RequestLogListEnvelope, "Array of request log entries", 400, 403),
)
async def list_request_logs(
    team_id: TeamId,
    c: ContainerDep,
    rid: RequestIdDep,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="`meta.pagination.nextCursor` of the previous page"),
    ] = None,
    method: Annotated[
        str | None,
        Query(
            max_length=16,
            description="Only this HTTP method (any case): " + ", ".join(METHODS),
        ),
    ] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=8,
            description="Only this status (`404`) or class of statuses (`2xx`, `4xx`, `5xx`)",
        ),
    ] = None,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_ID,
            description="Only entries with a greater `id`, oldest first (for following the log)",
        ),
    ] = None,
) -> Response:
    query = RequestLogQuery(
        limit=limit,
        method=parse_method(method),
        status=parse_status(status),
        after=after,
        cursor=LogCursor.decode(cursor) if cursor else None,
    )
    page = await c.request_log_store.list(team_id, query)
    return envelope.success(
        [views.request_log(e) for e in page.items],
        rid,
        pagination=views.request_log_pagination(page, limit),
    )
