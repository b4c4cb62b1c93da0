"""A webhook's logs: one row per delivery, filtered and paged, kept up to date while open; a
delivery's page with its payload and every attempt; resend and recover."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import RedirectResponse, Response

from cstar import events as catalog
from cstar.server.dashboard import forms
from cstar.server.dashboard.pages.webhooks import webhook_path
from cstar.server.dashboard.templating import render
from cstar.server.dashboard.visit import FormDep, Visit, VisitDep
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.domain.errors import InvalidParameter, NotFound
from cstar.server.domain.pagination import Cursor, PageRequest

router = APIRouter()

PAGE_SIZE = 50
STATUSES = tuple(s.value for s in DeliveryStatus)
#: How often an open logs or delivery page refreshes what may change (milliseconds).
REFRESH_MS = 2000


def _status(value: str | None) -> DeliveryStatus | None:
    if not value:
        return None
    try:
        return DeliveryStatus(value)
    except ValueError:
        raise InvalidParameter("status", f"status must be one of {', '.join(STATUSES)}") from None


def _event_type(value: str | None) -> str | None:
    if not value:
        return None
    if not catalog.is_known_event(value):
        raise InvalidParameter("eventType", f"Unknown event type: {value}")
    return value


async def _logs_context(
    visit: Visit,
    webhook_id: str,
    *,
    status: str | None,
    event_type: str | None,
    cursor: str | None,
) -> dict[str, object]:
    webhook = await visit.container.webhooks.get(visit.team_id, webhook_id)
    filters = {"status": status or "", "event_type": event_type or ""}
    try:
        page = await visit.container.deliveries.list(
            visit.team_id,
            webhook_id,
            status=_status(status),
            event_type=_event_type(event_type),
            page=PageRequest(limit=PAGE_SIZE, after=Cursor.decode(cursor) if cursor else None),
        )
    except InvalidParameter as exc:
        return {
            "visit": visit,
            "webhook": webhook,
            "deliveries": [],
            "next_cursor": None,
            "filters": filters,
            "error": exc.message,
            "live": False,
        }
    return {
        "visit": visit,
        "webhook": webhook,
        "deliveries": page.items,
        "next_cursor": page.next_cursor,
        "filters": filters,
        "error": None,
        # The first page follows new deliveries and attempts; later pages stay as they are.
        "live": cursor is None,
    }


Filter = Annotated[str | None, Query(max_length=100)]


async def _render_logs(
    visit: Visit,
    webhook_id: str,
    *,
    status: str | None = None,
    event_type: str | None = None,
    cursor: str | None = None,
    recovered: int | None = None,
    recover_error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = await _logs_context(
        visit, webhook_id, status=status, event_type=event_type, cursor=cursor
    )
    return render(
        "logs.html",
        {
            **context,
            "statuses": STATUSES,
            "event_types": [t.name for t in catalog.EVENT_TYPES],
            "recovered": recovered,
            "recover_error": recover_error,
            "refresh_ms": REFRESH_MS,
        },
        status_code=400 if context["error"] else status_code,
    )


@router.get("/settings/integrations/webhooks/{webhook_id}/logs")
async def logs_page(
    visit: VisitDep,
    webhook_id: str,
    status: Filter = None,
    event_type: Filter = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    recovered: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    return await _render_logs(
        visit,
        webhook_id,
        status=status,
        event_type=event_type,
        cursor=cursor,
        recovered=recovered,
    )


@router.get("/settings/integrations/webhooks/{webhook_id}/logs/rows")
async def logs_rows(
    visit: VisitDep, webhook_id: str, status: Filter = None, event_type: Filter = None
) -> Response:
    """The first page's rows alone: what an open logs page swaps in to stay current."""
    context = await _logs_context(
        visit, webhook_id, status=status, event_type=event_type, cursor=None
    )
    return render("logs_rows.html", context)


@router.post("/settings/integrations/webhooks/{webhook_id}/recover")
async def recover(visit: VisitDep, form: FormDep, webhook_id: str) -> Response:
    since = forms.since(form)
    if since is None:
        return await _render_logs(
            visit,
            webhook_id,
            recover_error="Choose the date and time (UTC) from which to recover.",
            status_code=400,
        )
    try:
        count = await visit.container.deliveries.recover(visit.team_id, webhook_id, since)
    except InvalidParameter as exc:
        return await _render_logs(visit, webhook_id, recover_error=exc.message, status_code=400)
    logs = f"{webhook_path(webhook_id)}/logs?recovered={count}"
    return RedirectResponse(logs, status_code=303)


async def _delivery_context(visit: Visit, webhook_id: str, delivery_id: str) -> dict[str, object]:
    webhook = await visit.container.webhooks.get(visit.team_id, webhook_id)
    detail = await visit.container.deliveries.get(visit.team_id, delivery_id)
    if detail.delivery.webhook_id != webhook.id:
        raise NotFound("Delivery not found")
    return {"visit": visit, "webhook": webhook, "detail": detail, "refresh_ms": REFRESH_MS}


@router.get("/settings/integrations/webhooks/{webhook_id}/deliveries/{delivery_id}")
async def delivery_page(
    visit: VisitDep,
    webhook_id: str,
    delivery_id: str,
    resent: Annotated[bool, Query()] = False,
) -> Response:
    context = await _delivery_context(visit, webhook_id, delivery_id)
    return render("delivery.html", {**context, "resent": resent})


@router.get("/settings/integrations/webhooks/{webhook_id}/deliveries/{delivery_id}/attempts")
async def delivery_attempts(visit: VisitDep, webhook_id: str, delivery_id: str) -> Response:
    """The delivery's state and attempts alone: what an open delivery page swaps in."""
    context = await _delivery_context(visit, webhook_id, delivery_id)
    return render("delivery_attempts.html", context)


@router.post("/settings/integrations/webhooks/{webhook_id}/deliveries/{delivery_id}/resend")
async def resend(visit: VisitDep, form: FormDep, webhook_id: str, delivery_id: str) -> Response:
    await _delivery_context(visit, webhook_id, delivery_id)
    await visit.container.deliveries.resend(visit.team_id, delivery_id)
    path = f"{webhook_path(webhook_id)}/deliveries/{delivery_id}?resent=true"
    return RedirectResponse(path, status_code=303)
