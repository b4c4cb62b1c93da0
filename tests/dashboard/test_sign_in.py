"""Signing in to the dashboard and out, over HTTP, on both databases: who gets in, who is turned
away with a message (never a 5xx), where they land, and that a session lives on the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.domain.clock import utc_now
from cstar.server.domain.models import KeyKind, KeyMode
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.schema import dashboard_links, dashboard_sessions
from tests.dashboard.support import post_form, sign_in, signed_in

HOME = "/dashboard/settings/integrations/webhooks"


@pytest.fixture
async def browser(settings: Settings, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


async def test_the_root_and_every_page_ask_to_sign_in_then_return(
    browser: httpx.AsyncClient, team: CreatedTeam
) -> None:
    assert (await browser.get("/")).headers["location"] == "/dashboard"
    wanted = "/dashboard/settings/integrations/events"
    response = await browser.get(wanted)
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/dashboard/sign-in?next=%2Fdashboard%2Fsettings%2Fintegrations%2Fevents"
    )
    page = await browser.get(response.headers["location"])
    assert 'id="secret_key"' in page.text
    assert ">Secret key<" in page.text
    assert ">Sign in<" in page.text
    signed = await sign_in(browser, team.secret_key, next_path=wanted)
    assert (signed.status_code, signed.headers["location"]) == (303, wanted)
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert (await browser.get(wanted)).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/api/v1/status",
        "/\\evil.example",
        "javascript:x",
    ],
)
async def test_signing_in_never_sends_the_browser_elsewhere(
    browser: httpx.AsyncClient, team: CreatedTeam, target: str
) -> None:
    response = await sign_in(browser, team.secret_key, next_path=target)
    assert response.headers["location"] == HOME


async def test_keys_that_cannot_sign_in_get_a_message(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    publishable = await sign_in(browser, team.publishable_key)
    assert publishable.status_code == 401
    assert "publishable key" in publishable.text
    unknown = await sign_in(browser, "sk_test_" + "x" * 32)
    assert unknown.status_code == 401
    assert "not recognised" in unknown.text
    garbage = await sign_in(browser, "'; DROP TABLE teams; --\x00")
    assert garbage.status_code == 401
    empty = await sign_in(browser, "")
    assert empty.status_code == 401
    record, raw = await container.keys.create(
        team.team.id,
        kind=pytest.importorskip("cstar.server.domain.models").KeyKind.SECRET,
        mode=pytest.importorskip("cstar.server.domain.models").KeyMode.TEST,
        name="gone",
    )
    await container.keys.revoke(team.team.id, record.id)
    revoked = await sign_in(browser, raw)
    assert revoked.status_code == 401
    assert "session" not in browser.cookies.get("cstar_session", "")


async def test_a_sign_in_form_without_its_token_is_refused(
    browser: httpx.AsyncClient, team: CreatedTeam
) -> None:
    response = await browser.post(
        "/dashboard/sign-in", data={"csrf": "forged", "secret_key": team.secret_key}
    )
    assert response.status_code == 403
    assert "cstar_session" not in response.headers.get("set-cookie", "")


async def test_sign_out_ends_the_session_on_the_server(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    await signed_in(browser, team)
    cookie = browser.cookies["cstar_session"]
    out = await post_form(browser, "/dashboard/settings", "/dashboard/sign-out", {})
    assert (out.status_code, out.headers["location"]) == (303, "/dashboard/sign-in")
    rows = await container.database.read(
        lambda c: c.execute(sa.select(sa.func.count()).select_from(dashboard_sessions)).scalar()
    )
    assert rows == 0
    # The old cookie, replayed, opens nothing.
    browser.cookies.set("cstar_session", cookie, path="/dashboard")
    assert (await browser.get(HOME)).status_code == 303


async def test_revoking_the_key_ends_its_sessions(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    record, raw = await container.keys.create(
        team.team.id, kind=KeyKind.SECRET, mode=KeyMode.TEST, name="laptop"
    )
    response = await sign_in(browser, raw)
    assert response.status_code == 303
    assert (await browser.get(HOME)).status_code == 200
    await container.keys.revoke(team.team.id, record.id)
    assert (await browser.get(HOME)).status_code == 303


async def test_a_session_idle_for_12_hours_has_ended(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    await signed_in(browser, team)
    long_ago = utc_now() - timedelta(hours=12, minutes=1)
    await container.database.write(
        lambda c: c.execute(dashboard_sessions.update().values(last_seen_at=long_ago))
    )
    assert (await browser.get(HOME)).status_code == 303
    rows = await container.database.read(
        lambda c: c.execute(sa.select(sa.func.count()).select_from(dashboard_sessions)).scalar()
    )
    assert rows == 0


async def test_an_operators_link_works_once_for_15_minutes(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    token = await container.dashboard_sessions.create_link(team.team.id)
    opened = await browser.get(f"/dashboard/sign-in/link/{token}")
    assert (opened.status_code, opened.headers["location"]) == (303, HOME)
    assert (await browser.get(HOME)).status_code == 200
    browser.cookies.clear()
    again = await browser.get(f"/dashboard/sign-in/link/{token}")
    assert again.status_code == 401
    assert "used already" in again.text

    late = await container.dashboard_sessions.create_link(team.team.id)
    past = utc_now() - timedelta(seconds=1)
    await container.database.write(
        lambda c: c.execute(
            dashboard_links.update()
            .where(dashboard_links.c.used_at.is_(None))
            .values(expires_at=past)
        )
    )
    assert (await browser.get(f"/dashboard/sign-in/link/{late}")).status_code == 401
    assert (await browser.get("/dashboard/sign-in/link/" + "x" * 5000)).status_code == 401


async def test_every_form_needs_the_sessions_token(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    await signed_in(browser, team)
    hook = await container.webhooks.create(
        team.team.id, WebhookDraft(name="h", url="https://example.com/h", events="*")
    )
    base = f"{HOME}/{hook.webhook.id}"
    for action, data in [
        (f"{HOME}/new", {"name": "x", "url": "https://example.com/x", "events": "*"}),
        (base, {"name": "y", "url": "https://example.com/y", "events": "*"}),
        (f"{base}/state", {"action": "disable"}),
        (f"{base}/rotate", {"grace_period": "0"}),
        (f"{base}/test", {"event": "ticket.created"}),
        (f"{base}/recover", {"since": "2026-01-01T00:00"}),
        (f"{base}/delete", {}),
        ("/dashboard/settings/integrations/events/send", {"event": "ticket.created"}),
        ("/dashboard/settings/api-keys", {"name": "k"}),
        ("/dashboard/sign-out", {}),
    ]:
        for token in (None, "forged"):
            sent = dict(data) if token is None else {**data, "csrf": token}
            response = await browser.post(action, data=sent)
            assert response.status_code == 403, (action, token, response.status_code)
    # Nothing changed.
    assert (await container.webhooks.get(team.team.id, hook.webhook.id)).name == "h"
    assert (await browser.get(HOME)).status_code == 200
