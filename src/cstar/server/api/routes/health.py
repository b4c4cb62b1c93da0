"""Liveness and readiness for load balancers and operators (no key needed)."""

from __future__ import annotations

from starlette.responses import Response

from cstar import __version__
from cstar.server.api import envelope
from cstar.server.api.deps import ContainerDep, RequestIdDep
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import ErrorEnvelope, HealthEnvelope

router = ApiRouter(tags=["Operations"])


@router.get(
    "/healthz",
    summary="Health",
    description=(
        "200 when the server can reach its database and its dispatcher runs; 503 otherwise "
        "(a process whose dispatcher has died answers 503 until it has stopped, so that a "
        "supervisor restarts it)."
    ),
    responses={
        200: {"model": HealthEnvelope, "description": "Healthy"},
        503: {"model": ErrorEnvelope, "description": "Database unreachable or dispatcher stopped"},
    },
)
async def health(c: ContainerDep, rid: RequestIdDep) -> Response:
    if c.health.problem is not None:
        # No Retry-After: this process will not recover; its replacement will answer.
        return envelope.unavailable(
            f"This server is stopping: {c.health.problem}", rid, retry_after=None
        )
    await c.store.ping()
    return envelope.success(
        {"status": "ok", "database": c.store.dialect, "version": __version__}, rid
    )
