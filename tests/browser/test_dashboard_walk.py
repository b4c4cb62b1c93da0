"""A new user's whole path through the dashboard, in Chromium, on SQLite and on PostgreSQL: sign
in, find the webhooks, create one (signed the Standard Webhooks way, with a custom header), copy
its secret, test it, read the logs as deliveries arrive, resend, rotate the secret, disable and
enable, recover, send a test event from the catalog, create and revoke a key, delete the webhook,
sign out. Every page passes axe-core and raises no console error (a Content-Security-Policy
violation would)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from cstar.webhook import construct_event
from tests.browser.conftest import Watched
from tests.browser.support import check_page
from tests.e2e.server import RunningServer
from tests.sdk.servers import ThreadedReceiver

pytestmark = pytest.mark.e2e

HOME = "/dashboard/settings/integrations/webhooks"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def sign_in(page: Page, key: str) -> None:
    page.get_by_label("Secret key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_a_new_user_walks_the_whole_dashboard(
    server: RunningServer,
    watched: Watched,
    receiver: ThreadedReceiver,
    axe_source: str,
) -> None:
    page = watched.page
    boot = server.bootstrap
    assert boot is not None
    path = f"/hook-{secrets.token_hex(6)}"

    # Signed out, any page asks to sign in, then returns to it.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    check_page(page, axe_source, "sign-in")
    sign_in(page, boot.publishable_key)
    expect(page.get_by_role("alert")).to_contain_text("publishable key")
    sign_in(page, boot.secret_key)
    expect(page).to_have_url(re.compile(HOME + "$"))

    # Settings → Integrations → Webhooks.
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    check_page(page, axe_source, "settings")
    page.get_by_role("link", name="Integrations", exact=True).click()
    check_page(page, axe_source, "integrations")
    page.get_by_role("link", name="Webhooks", exact=True).click()
    expect(page).to_have_url(re.compile(HOME + "$"))
    check_page(page, axe_source, "webhooks-empty")

    # Create, signed the Standard Webhooks way and with a custom header: a validation error
    # appears next to its field, with the API's message, and what was typed stays.
    page.get_by_role("button", name="Create Webhook").click()
    page.get_by_label("Name").fill("Helpdesk sync")
    page.get_by_label("URL").fill("ftp://example.com/hook")
    page.get_by_label("ticket.created", exact=True).check()
    page.get_by_label("customer.*", exact=True).check()
    page.get_by_label("Signature scheme").select_option("standard-webhooks")
    page.get_by_label("Custom headers").fill("X-Tenant: acme")
    check_page(page, axe_source, "webhook-create")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#url-error")).to_contain_text("url must be an https:// URL")
    expect(page.get_by_label("ticket.created", exact=True)).to_be_checked()
    expect(page.get_by_label("Signature scheme")).to_have_value("standard-webhooks")
    expect(page.get_by_label("Custom headers")).to_have_value("X-Tenant: acme")
    page.get_by_label("URL").fill(receiver.url(path))
    page.get_by_role("button", name="Create", exact=True).click()

    # The secret, once, with a Copy button.
    secret_text = page.locator("#signing-secret").inner_text()
    assert secret_text.startswith("whsec_")
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret_text
    check_page(page, axe_source, "webhook-secret")
    page.get_by_role("link", name="Continue to the webhook's settings").click()
    assert "whsec_" not in page.content()
    expect(page.locator(".facts")).to_contain_text("X-Tenant: ••••")
    webhook_url = page.url

    # Test: the result appears on the page, and the receiver got a verifiable delivery.
    page.get_by_label("Event", exact=True).select_option("ticket.created")
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Success")
    expect(page.locator(".test-result")).to_contain_text("200")
    (sent,) = receiver.received(path)
    event = construct_event(sent.body, sent.headers, secret_text)  # webhook-signature
    assert event.type == "ticket.created"
    assert sent.header("x-tenant") == "acme"
    check_page(page, axe_source, "webhook-settings")

    # Logs: a delivery published now appears without a reload.
    page.get_by_role("link", name="Logs", exact=True).click()
    rows = page.locator("#deliveries tr")
    expect(rows).to_have_count(1)  # the test send
    api = httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {boot.secret_key}"}
    )
    published = api.post(
        f"/api/v1/teams/{boot.team_id}/events",
        json={"type": "customer.created", "data": {"customer": {"id": "c1", "name": "Ada"}}},
    )
    assert published.status_code == 202, published.text
    expect(rows).to_have_count(2, timeout=15_000)
    expect(rows.first).to_contain_text("customer.created")
    expect(rows.first).to_contain_text("succeeded")
    check_page(page, axe_source, "logs")

    # A delivery: its payload and every attempt; Resend, and the new attempt appears.
    rows.first.get_by_role("link", name="customer.created").click()
    payload = page.get_by_role("region", name="Payload").locator("pre")
    expect(payload).to_contain_text('"customer.created"')
    expect(page.get_by_role("article", name="Attempt 1")).to_contain_text("webhook-signature")
    check_page(page, axe_source, "delivery")
    page.get_by_role("button", name="Resend").click()
    expect(page.get_by_text("Queued again")).to_be_visible()
    expect(page.get_by_role("article", name="Attempt 2")).to_be_visible(timeout=15_000)
    wait_until(lambda: len(receiver.received(path)) == 3, "the resent delivery")

    # Rotate the secret (with a grace period): the new one is shown once.
    page.goto(webhook_url)
    page.get_by_label("Grace period").select_option(label="1 hour")
    page.get_by_role("button", name="Rotate secret").click()
    rotated = page.locator("#signing-secret").inner_text()
    assert rotated.startswith("whsec_")
    assert rotated != secret_text
    page.goto(webhook_url)

    # Disable, then Enable.
    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".facts .state")).to_have_text("paused")
    page.get_by_role("button", name="Enable").click()
    expect(page.locator(".facts .state")).to_have_text("active")

    # Recover: failed deliveries since a moment are queued again.
    page.get_by_role("link", name="Logs", exact=True).click()
    page.get_by_label("Since (UTC)").fill("2026-01-01T00:00:00")
    page.get_by_role("button", name="Recover").click()
    expect(page.get_by_role("status")).to_contain_text("queued again")

    # The event catalog: send a test event to every subscribed webhook.
    page.goto("/dashboard/settings/integrations")
    page.get_by_role("link", name="Event catalog").click()
    expect(page.get_by_role("heading", name="Tickets")).to_be_visible()
    check_page(page, axe_source, "catalog")
    page.get_by_role("button", name="Send test event ticket.created").click()
    expect(page.get_by_role("status")).to_contain_text("sent to 1 webhook")
    wait_until(lambda: len(receiver.received(path)) == 4, "the catalog's test event")

    # API keys: one is created (shown once) and revoked.
    page.goto("/dashboard/settings")
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("CI publisher")
    page.get_by_role("button", name="Create key").click()
    new_key = page.locator("#new-key").inner_text()
    assert new_key.startswith("sk_test_")
    check_page(page, axe_source, "api-keys")
    page.get_by_role("button", name=re.compile(r"^Revoke CI publisher")).click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    refused = httpx.get(
        f"{server.base_url}/api/v1/status", headers={"Authorization": f"Bearer {new_key}"}
    )
    assert refused.status_code == 401

    # Delete, with a confirmation.
    page.goto(webhook_url)
    page.get_by_role("link", name="Delete", exact=True).click()
    check_page(page, axe_source, "webhook-delete")
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page).to_have_url(re.compile(HOME))
    expect(page.get_by_role("status")).to_contain_text("deleted")
    expect(page.get_by_text("No webhooks yet")).to_be_visible()

    # Sign out: the session is gone; the next page asks to sign in.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(HOME)
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in"))

    assert watched.errors == []
    assert watched.dialogs == []
    api.close()


def test_hostile_names_show_as_text_and_other_teams_are_not_found(
    server: RunningServer, watched: Watched, axe_source: str
) -> None:
    boot = server.bootstrap
    assert boot is not None
    page = watched.page
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {boot.secret_key}"}
    ) as api:
        made = api.post(
            f"/api/v1/teams/{boot.team_id}/webhooks",
            json={"name": hostile, "url": "https://example.com/x", "events": "*"},
        )
        assert made.status_code == 201, made.text
    page.goto(HOME)
    sign_in(page, boot.secret_key)
    expect(page.get_by_role("link", name=hostile)).to_be_visible()
    page.get_by_role("link", name=hostile).click()
    expect(page.get_by_role("heading", name=hostile)).to_be_visible()
    check_page(page, axe_source, "hostile-name")
    # A webhook id that is not this team's: the 404 page, not another team's data.
    page.goto(f"{HOME}/whk_00000000000000000000")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert watched.dialogs == []
    assert watched.errors == []
