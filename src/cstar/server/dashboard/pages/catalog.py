"""Settings → Integrations → Event catalog: every event type with its description and a sample
payload, and "Send test event" (a sample to every webhook subscribed to it)."""

from __future__ import annotations

import json

from fastapi import APIRouter
from starlette.responses import Response

from cstar import events as catalog
from cstar.server.dashboard.templating import render
from cstar.server.dashboard.visit import FormDep, Visit, VisitDep
from cstar.server.domain.deliveries import slugify
from cstar.server.domain.errors import InvalidParameter
from cstar.server.store.contract import PublishOutcome

router = APIRouter()


def _groups(visit: Visit) -> list[dict[str, object]]:
    slug = slugify(visit.team.name)
    base = visit.container.settings.dashboard_base_url
    return [
        {
            "category": category,
            "types": [
                {
                    "type": event_type,
                    "sample": json.dumps(
                        catalog.sample_data(
                            event_type.name, team_slug=slug, dashboard_base_url=base
                        ),
                        indent=2,
                    ),
                }
                for event_type in catalog.event_types_in(category.slug)
            ],
        }
        for category in catalog.CATEGORIES
    ]


def _page(
    visit: Visit,
    *,
    sent: PublishOutcome | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        "catalog.html",
        {"visit": visit, "groups": _groups(visit), "sent": sent, "error": error},
        status_code=status_code,
    )


@router.get("/settings/integrations/events")
async def catalog_page(visit: VisitDep) -> Response:
    return _page(visit)


@router.post("/settings/integrations/events/send")
async def send_test_event(visit: VisitDep, form: FormDep) -> Response:
    event = form.get("event")
    try:
        outcome = await visit.container.events.trigger_test(
            visit.team_id, event if isinstance(event, str) else "", request_id=None
        )
    except InvalidParameter as exc:
        return _page(visit, error=exc.message, status_code=400)
    return _page(visit, sent=outcome)
