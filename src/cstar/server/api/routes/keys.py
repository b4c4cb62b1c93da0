"""API keys of a team: list, create (shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path
from starlette.responses import Response

from cstar.server.api import envelope, views
from cstar.server.api.deps import ContainerDep, KeyDep, PageDep, RequestIdDep, TeamId, responses
from cstar.server.api.routing import ApiRouter
from cstar.server.api.schemas import KeyCreate, KeyCreatedEnvelope, KeyEnvelope, KeyListEnvelope
from cstar.server.domain.models import KeyKind, KeyMode

router = ApiRouter(prefix="/api/v1/teams/{teamId}/keys", tags=["API keys"])

KeyId = Annotated[str, Path(alias="keyId", description="The key ID (key_ prefix)")]


@router.get(
    "",
    summary="List API Keys",
    description=(
        "The team's API keys, newest first, revoked ones included: prefix, type, mode, "
        "when each was created and last used. Keys themselves are never shown again."
    ),
    responses=responses(200, KeyListEnvelope, "Array of keys", 400, 403),
)
async def list_keys(team_id: TeamId, page: PageDep, c: ContainerDep, rid: RequestIdDep) -> Response:
    result = await c.keys.list(team_id, page)
    return envelope.success(
        [views.api_key(k) for k in result.items],
        rid,
        pagination=views.pagination(result, page.limit),
    )


@router.post(
    "",
    status_code=201,
    summary="Create API Key",
    description=(
        "Create a secret or publishable key. The key is returned once: save it now. A team "
        "holds at most `CSTAR_MAX_KEYS_PER_TEAM` (100) active keys; a test-mode key cannot "
        "create live-mode keys."
    ),
    responses=responses(201, KeyCreatedEnvelope, "Key created", 400, 403, 413),
)
async def create_key(
    team_id: TeamId,
    caller: KeyDep,
    c: ContainerDep,
    rid: RequestIdDep,
    body: Annotated[KeyCreate | None, Body()] = None,
) -> Response:
    spec = body or KeyCreate()
    mode = KeyMode(spec.mode) if spec.mode else caller.mode
    record, raw = await c.keys.create(
        team_id,
        kind=KeyKind(spec.type),
        mode=mode,
        name=spec.name,
        created_by=caller,
        limit=c.settings.max_keys_per_team,
    )
    return envelope.success({**views.api_key(record), "key": raw}, rid, status_code=201)


@router.delete(
    "/{keyId}",
    summary="Revoke API Key",
    description=(
        "Revoke a key: requests made with it get 401 from now on. The team's last active "
        "secret key cannot be revoked (create another first)."
    ),
    responses=responses(200, KeyEnvelope, "The revoked key", 400, 403, 404),
)
async def revoke_key(
    team_id: TeamId, key_id: KeyId, c: ContainerDep, rid: RequestIdDep
) -> Response:
    return envelope.success(views.api_key(await c.keys.revoke(team_id, key_id)), rid)
