"""Settings → Integrations → Webhooks: the list, create, a webhook's settings page and what can
be done there (edit, enable or disable, delete, rotate the secret, test, recover)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import RedirectResponse, Response

from cstar import events as catalog
from cstar.server.dashboard import activity, forms
from cstar.server.dashboard.security import HOME
from cstar.server.dashboard.templating import render
from cstar.server.dashboard.visit import FormDep, Visit, VisitDep
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.models import Webhook
from cstar.server.domain.pagination import Cursor, PageRequest
from cstar.server.services.deliveries import TestSendResult
from cstar.server.services.webhooks import WebhookUpdate, WithSecret

router = APIRouter()

PAGE_SIZE = 50
NOTICES = {
    "updated": "Saved.",
    "enabled": "The webhook is enabled: deliveries resume.",
    "disabled": "The webhook is disabled: its deliveries wait until you enable it again.",
    "deleted": "The webhook was deleted.",
}


def webhook_path(webhook_id: str) -> str:
    return f"{HOME}/{webhook_id}"


def state_of(webhook: Webhook) -> tuple[str, str | None]:
    """``active``, ``paused`` (by a user) or ``disabled`` (by the system, with the reason)."""
    if webhook.is_active:
        return "active", None
    if webhook.disabled_reason:
        return "disabled", webhook.disabled_reason
    return "paused", None


def _notice(code: str | None) -> str | None:
    return NOTICES.get(code or "")


@router.get("/")
async def dashboard_home() -> Response:
    return RedirectResponse(HOME, status_code=303)


@router.get("/settings")
async def settings(visit: VisitDep) -> Response:
    return render("settings.html", {"visit": visit})


@router.get("/settings/integrations")
async def integrations(visit: VisitDep) -> Response:
    return render("integrations.html", {"visit": visit})


@router.get("/settings/integrations/webhooks")
async def webhooks_page(
    visit: VisitDep,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    page = await visit.container.webhooks.list(
        visit.team_id,
        active=None,
        page=PageRequest(limit=PAGE_SIZE, after=Cursor.decode(cursor) if cursor else None),
    )
    lines = await activity.sparklines(visit.container, visit.team_id, [w.id for w in page.items])
    rows = [{"webhook": w, "state": state_of(w), "sparkline": lines[w.id]} for w in page.items]
    return render(
        "webhooks.html",
        {
            "visit": visit,
            "rows": rows,
            "next_cursor": page.next_cursor,
            "notice": _notice(notice),
        },
    )


def _form_page(
    visit: Visit,
    *,
    values: forms.WebhookFields,
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        "webhook_new.html",
        {
            "visit": visit,
            "values": values,
            "errors": errors,
            "groups": forms.event_groups(),
            **_control_choices(visit),
        },
        status_code=status_code,
    )


def _control_choices(visit: Visit) -> dict[str, object]:
    """What the delivery controls' fields offer, for both forms and the settings page."""
    return {
        "schemes": forms.SIGNATURE_SCHEMES,
        "orderings": forms.ORDERINGS,
        "mask": forms.MASK,
        "default_timeout": visit.container.settings.delivery_timeout,
    }


@router.get("/settings/integrations/webhooks/new")
async def new_webhook_page(visit: VisitDep) -> Response:
    return _form_page(visit, values=forms.WebhookFields("", "", ()), errors={})


def _secret_page(visit: Visit, created: WithSecret, *, rotated: bool) -> Response:
    return render(
        "secret.html",
        {"visit": visit, "webhook": created.webhook, "secret": created.secret, "rotated": rotated},
    )


@router.post("/settings/integrations/webhooks/new")
async def create_webhook(visit: VisitDep, form: FormDep) -> Response:
    values = forms.WebhookFields.read(form)
    try:
        created = await visit.container.webhooks.create(
            visit.team_id, values.draft(), limit=visit.container.settings.max_webhooks_per_team
        )
    except InvalidParameter as exc:
        return _form_page(
            visit, values=values, errors={exc.param or "form": exc.message}, status_code=400
        )
    return _secret_page(visit, created, rotated=False)


async def _settings_page(
    visit: Visit,
    webhook: Webhook,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    values: forms.WebhookFields | None = None,
    test: TestSendResult | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        "webhook.html",
        {
            "visit": visit,
            "webhook": webhook,
            "state": state_of(webhook),
            "values": values or forms.WebhookFields.of(webhook),
            "errors": errors or {},
            "groups": forms.event_groups(),
            **_control_choices(visit),
            "event_types": [t.name for t in catalog.EVENT_TYPES],
            "grace_periods": forms.GRACE_PERIODS,
            "notice": notice,
            "test": test,
            "charts": await activity.webhook_charts(visit.container, visit.team_id, webhook.id),
        },
        status_code=status_code,
    )


@router.get("/settings/integrations/webhooks/{webhook_id}")
async def webhook_page(
    visit: VisitDep,
    webhook_id: str,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    webhook = await visit.container.webhooks.get(visit.team_id, webhook_id)
    return await _settings_page(visit, webhook, notice=_notice(notice))


@router.post("/settings/integrations/webhooks/{webhook_id}")
async def update_webhook(visit: VisitDep, form: FormDep, webhook_id: str) -> Response:
    webhook = await visit.container.webhooks.get(visit.team_id, webhook_id)
    values = forms.WebhookFields.read(form)
    try:
        await visit.container.webhooks.update(visit.team_id, webhook_id, values.update())
    except InvalidParameter as exc:
        return await _settings_page(
            visit,
            webhook,
            errors={exc.param or "form": exc.message},
            values=values,
            status_code=400,
        )
    return RedirectResponse(f"{webhook_path(webhook_id)}?notice=updated", status_code=303)


@router.post("/settings/integrations/webhooks/{webhook_id}/state")
async def set_state(visit: VisitDep, form: FormDep, webhook_id: str) -> Response:
    active = forms.text(form, "action") == "enable"
    await visit.container.webhooks.update(
        visit.team_id, webhook_id, WebhookUpdate(is_active=active)
    )
    notice = "enabled" if active else "disabled"
    return RedirectResponse(f"{webhook_path(webhook_id)}?notice={notice}", status_code=303)


@router.get("/settings/integrations/webhooks/{webhook_id}/delete")
async def confirm_delete(visit: VisitDep, webhook_id: str) -> Response:
    webhook = await visit.container.webhooks.get(visit.team_id, webhook_id)
    return render("webhook_delete.html", {"visit": visit, "webhook": webhook})


@router.post("/settings/integrations/webhooks/{webhook_id}/delete")
async def delete_webhook(visit: VisitDep, form: FormDep, webhook_id: str) -> Response:
    await visit.container.webhooks.delete(visit.team_id, webhook_id)
    return RedirectResponse(f"{HOME}?notice=deleted", status_code=303)


@router.post("/settings/integrations/webhooks/{webhook_id}/rotate")
async def rotate_secret(visit: VisitDep, form: FormDep, webhook_id: str) -> Response:
    rotated = await visit.container.webhooks.rotate_secret(
        visit.team_id, webhook_id, grace_period=forms.grace_period(form)
    )
    return _secret_page(visit, rotated, rotated=True)


@router.post("/settings/integrations/webhooks/{webhook_id}/test")
async def test_webhook(visit: VisitDep, form: FormDep, webhook_id: str) -> Response:
    webhook = await visit.container.webhooks.get(visit.team_id, webhook_id)
    event = forms.text(form, "event")
    try:
        result = await visit.container.deliveries.send_test(
            visit.team_id, webhook_id, event, request_id=None
        )
    except InvalidParameter as exc:
        return await _settings_page(visit, webhook, errors={"event": exc.message}, status_code=400)
    return await _settings_page(visit, webhook, test=result)
