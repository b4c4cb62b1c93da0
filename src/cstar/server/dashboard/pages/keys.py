"""Settings → API keys: the team's keys; create one (shown once) and revoke."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from cstar.server.dashboard import forms
from cstar.server.dashboard.templating import render
from cstar.server.dashboard.visit import FormDep, Visit, VisitDep
from cstar.server.domain.errors import DomainError
from cstar.server.domain.models import ApiKey, KeyKind, KeyMode
from cstar.server.domain.pagination import PageRequest

router = APIRouter()

KEYS = "/dashboard/settings/api-keys"
#: Every key of a team fits on one page (a team holds at most CSTAR_MAX_KEYS_PER_TEAM active).
LIST_LIMIT = 100


async def _page(
    visit: Visit,
    *,
    created: tuple[ApiKey, str] | None = None,
    error: str | None = None,
    revoked: bool = False,
    status_code: int = 200,
) -> Response:
    keys = await visit.container.keys.list(visit.team_id, PageRequest(limit=LIST_LIMIT))
    return render(
        "keys.html",
        {
            "visit": visit,
            "keys": keys.items,
            "more": keys.has_more,
            "created": created,
            "error": error,
            "revoked": revoked,
        },
        status_code=status_code,
    )


@router.get("/settings/api-keys")
async def keys_page(visit: VisitDep, revoked: bool = False) -> Response:
    return await _page(visit, revoked=revoked)


@router.post("/settings/api-keys")
async def create_key(visit: VisitDep, form: FormDep) -> Response:
    kind = KeyKind.PUBLISHABLE if forms.text(form, "type") == "publishable" else KeyKind.SECRET
    mode = KeyMode.LIVE if forms.text(form, "mode") == "live" else KeyMode.TEST
    # Signed in with a key: the API's rules for that key apply (a test key makes no live key).
    # Signed in with an operator's link: the operator's.
    key_id = visit.session.key_id
    caller = await visit.container.store.get_key(visit.team_id, key_id) if key_id else None
    try:
        created = await visit.container.keys.create(
            visit.team_id,
            kind=kind,
            mode=mode,
            name=forms.text(form, "name") or None,
            created_by=caller,
            limit=visit.container.settings.max_keys_per_team,
        )
    except DomainError as exc:
        return await _page(visit, error=exc.message, status_code=400)
    return await _page(visit, created=created)


@router.post("/settings/api-keys/{key_id}/revoke")
async def revoke_key(visit: VisitDep, form: FormDep, key_id: str) -> Response:
    try:
        await visit.container.keys.revoke(visit.team_id, key_id)
    except DomainError as exc:
        return await _page(visit, error=exc.message, status_code=400)
    return RedirectResponse(f"{KEYS}?revoked=true", status_code=303)
