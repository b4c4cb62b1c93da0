"""The dashboard's pages are safe to open: every user-supplied string is escaped, a team sees only
its own data (another team's ids are a 404 page), every page carries its security headers, a
secret is shown only on the page that creates it, and bad input is a 4xx page, never a 5xx."""

from __future__ import annotations

import re

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.dashboard.security import CONTENT_SECURITY_POLICY
from cstar.server.domain.models import KeyKind, KeyMode
from cstar.server.domain.pagination import PageRequest
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft
from tests.dashboard.support import csrf_of, post_form

HOME = "/dashboard/settings/integrations/webhooks"
HOSTILE = "<img src=x onerror=alert(1)>\"'&"


async def _every_page(container: Container, team: CreatedTeam, webhook_id: str) -> list[str]:
    outcome = await container.events.publish(
        team.team.id, "ticket.created", {"ticket": {"id": "t1", "title": HOSTILE}}
    )
    delivery = outcome.queued[0].delivery_id
    base = f"{HOME}/{webhook_id}"
    return [
        "/dashboard/settings",
        "/dashboard/settings/integrations",
        HOME,
        f"{HOME}/new",
        base,
        f"{base}/logs",
        f"{base}/logs/rows",
        f"{base}/delete",
        f"{base}/deliveries/{delivery}",
        f"{base}/deliveries/{delivery}/attempts",
        "/dashboard/settings/integrations/events",
        "/dashboard/settings/api-keys",
    ]


async def test_user_strings_are_escaped_and_every_page_has_its_headers(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    hook = await container.webhooks.create(
        team.team.id, WebhookDraft(name=HOSTILE, url="https://example.com/h?q=<b>", events="*")
    )
    await container.keys.create(team.team.id, kind=KeyKind.SECRET, mode=KeyMode.TEST, name=HOSTILE)
    for path in await _every_page(container, team, hook.webhook.id):
        response = await browser.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert "<img src=x" not in response.text, path
        assert "whsec_" not in response.text, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        # No inline script or style the policy would block.
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
        assert " style=" not in response.text, path
        assert " on" + "error=" not in response.text.replace("onerror=alert", ""), path
    listed = await browser.get(HOME)
    assert "&lt;img src=x onerror=alert(1)&gt;" in listed.text


async def test_another_teams_ids_are_a_404_page(
    browser: httpx.AsyncClient, container: Container, other_team: CreatedTeam
) -> None:
    theirs = await container.webhooks.create(
        other_team.team.id, WebhookDraft(name="theirs", url="https://example.com/t", events="*")
    )
    outcome = await container.events.publish(
        other_team.team.id, "ticket.created", {"ticket": {"id": "t"}}
    )
    delivery = outcome.queued[0].delivery_id
    base = f"{HOME}/{theirs.webhook.id}"
    for path in [
        base,
        f"{base}/logs",
        f"{base}/logs/rows",
        f"{base}/delete",
        f"{base}/deliveries/{delivery}",
        f"{base}/deliveries/{delivery}/attempts",
        f"{HOME}/whk_doesnotexist0000",
        f"{HOME}/not-an-id/logs",
    ]:
        response = await browser.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert "theirs" not in response.text
    token = csrf_of((await browser.get(HOME)).text)
    for action, data in [
        (base, {"name": "mine now", "url": "https://example.com/m", "events": "*"}),
        (f"{base}/state", {"action": "disable"}),
        (f"{base}/rotate", {"grace_period": "0"}),
        (f"{base}/test", {"event": "ticket.created"}),
        (f"{base}/delete", {}),
        (f"{base}/deliveries/{delivery}/resend", {}),
    ]:
        response = await browser.post(action, data={"csrf": token, **data})
        assert response.status_code == 404, (action, response.status_code)
    kept = await container.webhooks.get(other_team.team.id, theirs.webhook.id)
    assert (kept.name, kept.is_active) == ("theirs", True)


async def test_a_delivery_of_another_webhook_of_the_team_is_a_404(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    one = await container.webhooks.create(
        team.team.id, WebhookDraft(name="one", url="https://example.com/1", events="ticket.*")
    )
    two = await container.webhooks.create(
        team.team.id, WebhookDraft(name="two", url="https://example.com/2", events="customer.*")
    )
    outcome = await container.events.publish(team.team.id, "ticket.created", {"ticket": {}})
    delivery = outcome.queued[0].delivery_id
    wrong = await browser.get(f"{HOME}/{two.webhook.id}/deliveries/{delivery}")
    assert wrong.status_code == 404
    right = await browser.get(f"{HOME}/{one.webhook.id}/deliveries/{delivery}")
    assert right.status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "?cursor=not-a-cursor",
        "?cursor=" + "A" * 600,
        "?status=exploded",
        "?event_type=ticket.nope",
        "?status=%00",
        "?recovered=-1",
    ],
)
async def test_bad_queries_of_the_logs_are_400_pages(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam, query: str
) -> None:
    hook = await container.webhooks.create(
        team.team.id, WebhookDraft(name="h", url="https://example.com/h", events="*")
    )
    response = await browser.get(f"{HOME}/{hook.webhook.id}/logs{query}")
    assert response.status_code == 400, response.text[:300]
    assert "<h1>" in response.text


@pytest.mark.parametrize("cursor", ["not-a-cursor", "A" * 600, "%00"])
async def test_a_bad_cursor_of_the_list_is_a_400_page(
    browser: httpx.AsyncClient, cursor: str
) -> None:
    assert (await browser.get(f"{HOME}?cursor={cursor}")).status_code == 400


async def test_form_errors_show_the_apis_message_next_to_the_field(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    cases = [
        ({"name": "", "url": "https://example.com/h", "events": "*"}, "name", "name must not"),
        ({"name": "n", "url": "http://example.com/h", "events": "*"}, "url", "https://"),
        ({"name": "n", "url": "https://127.0.0.1/h", "events": "*"}, "url", "non-public"),
        ({"name": "n", "url": "https://example.com/h"}, "events", "at least one event"),
        ({"name": "n", "url": "https://example.com/h", "events": "nope.x"}, "events", "Unknown"),
    ]
    for data, field, message in cases:
        response = await post_form(browser, f"{HOME}/new", f"{HOME}/new", data)
        assert response.status_code == 400, (data, response.status_code)
        error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', response.text)
        assert error is not None, (data, response.text[:500])
        assert message in error.group(1)
    listed = await container.webhooks.list(team.team.id, active=None, page=PageRequest(limit=10))
    assert listed.items == []
