"""Who is calling: GET /api/v1/status (the caller's team and key, the server, the rate limit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from cstar import __version__
from cstar.server.api import envelope, views
from cstar.server.api.context import STATE_RATE_LIMIT
from cstar.server.api.deps import ContainerDep, KeyDep, RequestIdDep, responses
from cstar.server.api.ratelimit import Decision
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import StatusEnvelope

router = ApiRouter(prefix="/api/v1", tags=["Account"])


async def get_rate_limit(request: Request) -> Decision:
    decision = request.state._state.get(STATE_RATE_LIMIT)  # set by AuthMiddleware
    if not isinstance(decision, Decision):  # only reachable if a route escaped the middleware
        raise RuntimeError("route reached without a rate limit decision")
    return decision


@router.get(
    "/status",
    summary="Get Status",
    description=(
        "The team and the key this request is made with, the server (version, `--dev`, "
        "database) and the key's rate limit in the current window, this request counted: the "
        "same numbers as the `X-RateLimit-*` headers. Any API key (secret or publishable)."
    ),
    responses=responses(200, StatusEnvelope, "The caller's team, key, server and rate limit"),
)
async def get_status(
    key: KeyDep,
    limit: Annotated[Decision, Depends(get_rate_limit)],
    c: ContainerDep,
    rid: RequestIdDep,
) -> Response:
    team = await c.store.get_team(key.team_id)
    if team is None:  # keys are deleted with their team (ON DELETE CASCADE)
        raise RuntimeError(f"key {key.id} has no team")
    return envelope.success(
        views.status(
            team=team,
            key=key,
            version=__version__,
            dev=c.settings.dev,
            database=c.store.dialect,
            limit=limit,
            window_seconds=c.key_limiter.window_seconds,
        ),
        rid,
    )
