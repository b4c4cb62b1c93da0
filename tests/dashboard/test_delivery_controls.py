"""The delivery controls on the dashboard's webhook forms, over HTTP on both databases: what the
create and edit forms save, what the settings page shows (header names, never their values),
and that every mistake is a 400 page with the message next to its field, saving nothing."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.dashboard import forms
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.models import Webhook
from cstar.server.domain.pagination import PageRequest
from cstar.server.services.teams import CreatedTeam
from cstar.server.services.webhooks import WebhookDraft
from tests.dashboard.support import post_form

HOME = "/dashboard/settings/integrations/webhooks"
TOKEN = "Bearer t0k3n-do-not-show"
BASICS = {"name": "Controlled", "url": "https://example.com/h", "events": "*"}
#: The five controls as the forms post them, each set away from its default.
CONTROLS = {
    "signatureScheme": "standard-webhooks",
    "headers": f"Authorization: {TOKEN}\r\n\r\n  X-Region :  eu:west  \r\nX-Tag: <b>x</b>\r\n",
    "rateLimit": "20",
    "ordering": "fifo",
    "timeoutSeconds": "5",
}
HEADERS = {"Authorization": TOKEN, "X-Region": "eu:west", "X-Tag": "<b>x</b>"}


def controls_of(webhook: Webhook) -> tuple[object, ...]:
    return (
        webhook.signature_scheme,
        dict(webhook.headers),
        webhook.rate_limit,
        webhook.ordering,
        webhook.timeout_seconds,
    )


def field_error(page: str, field: str) -> str:
    """The message shown next to ``field``, which must be there."""
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert found is not None, (field, page[:2000])
    return found.group(1)


def facts(page: str) -> str:
    """The settings page's read-only facts (not the edit form, which holds the values)."""
    found = re.search(r'<dl class="facts">.*?</dl>', page, re.S)
    assert found is not None
    return found.group(0)


def selected(page: str, select: str) -> str:
    """The value of the option chosen in the ``select`` with that id."""
    block = re.search(rf'<select id="{select}".*?</select>', page, re.S)
    assert block is not None, select
    chosen: list[str] = re.findall(r'<option value="([^"]*)" selected>', block.group(0))
    assert len(chosen) == 1, (select, block.group(0))
    return chosen[0]


async def only_webhook(container: Container, team: CreatedTeam) -> Webhook:
    listed = await container.webhooks.list(team.team.id, active=None, page=PageRequest(limit=10))
    (webhook,) = listed.items
    return webhook


async def test_the_create_form_offers_each_control_at_its_default(
    browser: httpx.AsyncClient,
) -> None:
    page = (await browser.get(f"{HOME}/new")).text
    assert selected(page, "signatureScheme") == "cstar"
    assert selected(page, "ordering") == "none"
    assert '<textarea id="headers" name="headers"' in page
    assert re.search(r'<input id="rateLimit" name="rateLimit" type="number"[^>]* value=""', page)
    assert re.search(r'<input id="timeoutSeconds"[^>]* value=""', page)
    assert "the server's default (10 s)" in html.unescape(page)  # Settings' delivery timeout


async def test_creating_with_every_control_saves_them_and_the_page_masks_header_values(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    created = await post_form(browser, f"{HOME}/new", f"{HOME}/new", {**BASICS, **CONTROLS})
    assert created.status_code == 200, created.text[:2000]
    assert "webhook-signature" in created.text  # the secret page says what to verify
    webhook = await only_webhook(container, team)
    assert controls_of(webhook) == ("standard-webhooks", HEADERS, 20, "fifo", 5)

    page = (await browser.get(f"{HOME}/{webhook.id}")).text
    shown = facts(page)
    for name in HEADERS:
        assert f"<code>{name}: {forms.MASK}</code>" in shown
    assert "t0k3n" not in shown
    assert "eu:west" not in shown
    assert "20 per second" in shown
    assert "5 s" in shown
    assert "Standard Webhooks" in shown
    assert "FIFO" in shown
    # The edit form holds the values to change them, escaped like everything else.
    textarea = re.search(r'<textarea id="headers"[^>]*>([^<]*)</textarea>', page)
    assert textarea is not None
    assert textarea.group(1) == (
        f"Authorization: {TOKEN}\nX-Region: eu:west\nX-Tag: &lt;b&gt;x&lt;/b&gt;"
    )
    assert "<b>x</b>" not in page
    assert selected(page, "signatureScheme") == "standard-webhooks"
    assert selected(page, "ordering") == "fifo"
    assert (
        'name="rateLimit" type="number" min="1" max="10000" step="1" inputmode="numeric" value="20"'
        in page
    )
    assert 'inputmode="numeric" value="5"' in page


async def test_a_webhook_without_controls_shows_the_defaults(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    made = await container.webhooks.create(
        team.team.id, WebhookDraft(name="plain", url="https://example.com/p", events="*")
    )
    page = (await browser.get(f"{HOME}/{made.webhook.id}")).text
    shown = facts(page)
    assert re.search(r"<dt>Custom headers</dt>\s*<dd>\s*none\s*</dd>", shown)
    assert "no limit" in shown
    assert "the server's default (10 s)" in html.unescape(shown)
    assert selected(page, "signatureScheme") == "cstar"
    assert selected(page, "ordering") == "none"
    assert re.search(r'<textarea id="headers"[^>]*></textarea>', page)


async def test_editing_changes_the_controls_and_empty_fields_clear_them(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    made = await container.webhooks.create(
        team.team.id,
        WebhookDraft(
            name="edit me",
            url="https://example.com/e",
            events="*",
            headers={"X-Old": "1"},
            rate_limit=9,
            timeout_seconds=12,
        ),
    )
    path = f"{HOME}/{made.webhook.id}"
    changed = await post_form(
        browser,
        path,
        path,
        {**BASICS, **CONTROLS, "headers": "X-New: 2", "rateLimit": "30", "ordering": "none"},
    )
    assert (changed.status_code, changed.headers["location"]) == (303, f"{path}?notice=updated")
    webhook = await container.webhooks.get(team.team.id, made.webhook.id)
    assert controls_of(webhook) == ("standard-webhooks", {"X-New": "2"}, 30, "none", 5)

    emptied = {**CONTROLS, "headers": "\n  \n", "rateLimit": "", "timeoutSeconds": " "}
    cleared = await post_form(browser, path, path, {**BASICS, **emptied})
    assert cleared.status_code == 303, cleared.text[:2000]
    webhook = await container.webhooks.get(team.team.id, made.webhook.id)
    assert controls_of(webhook) == ("standard-webhooks", {}, None, "fifo", None)


async def test_a_post_without_the_control_fields_leaves_them_as_they_are(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    """A page loaded before the fields existed posts only name, URL and events."""
    made = await container.webhooks.create(
        team.team.id,
        WebhookDraft(
            name="kept",
            url="https://example.com/k",
            events="*",
            signature_scheme="standard-webhooks",
            headers={"X-Keep": "yes"},
            rate_limit=4,
            ordering="fifo",
            timeout_seconds=3,
        ),
    )
    path = f"{HOME}/{made.webhook.id}"
    response = await post_form(browser, path, path, {**BASICS, "name": "renamed"})
    assert response.status_code == 303, response.text[:2000]
    webhook = await container.webhooks.get(team.team.id, made.webhook.id)
    assert webhook.name == "renamed"
    assert controls_of(webhook) == ("standard-webhooks", {"X-Keep": "yes"}, 4, "fifo", 3)


BAD_CONTROLS = [
    ({"headers": "Authorization Bearer x"}, "headers", "Line 1 has no colon"),
    ({"headers": "X-A: 1\n\nX-B"}, "headers", "Line 3 has no colon"),
    ({"headers": "X-A: 1\nx-a: 2"}, "headers", "given twice"),
    ({"headers": "X-Signature: forged"}, "headers", "set by cStar"),
    ({"headers": "webhook-id: msg_1"}, "headers", "set by cStar"),
    ({"headers": "Bad Name: v"}, "headers", "header names must be"),
    ({"headers": "\n".join(f"X-H{n}: v" for n in range(21))}, "headers", "at most 20"),
    ({"rateLimit": "0"}, "rateLimit", "from 1 to 10000"),
    ({"rateLimit": "10001"}, "rateLimit", "from 1 to 10000"),
    ({"rateLimit": "fast"}, "rateLimit", "whole number of deliveries per second"),
    ({"timeoutSeconds": "31"}, "timeoutSeconds", "from 1 to 30"),
    ({"timeoutSeconds": "2.5"}, "timeoutSeconds", "whole number of seconds"),
    ({"signatureScheme": "hmac-md5"}, "signatureScheme", "standard-webhooks"),
    ({"ordering": "lifo"}, "ordering", "fifo"),
]


async def test_a_bad_control_on_create_is_shown_next_to_its_field_and_nothing_is_saved(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    """Every case of ``BAD_CONTROLS`` in one test (one database each, not one per case)."""
    for given, field, message in BAD_CONTROLS:
        data: dict[str, object] = {**BASICS, **CONTROLS, **given}
        response = await post_form(browser, f"{HOME}/new", f"{HOME}/new", data)
        assert response.status_code == 400, (given, response.status_code)
        assert message in field_error(response.text, field), given
        assert f'aria-describedby="{field}' in response.text, given
        # What was typed is kept, to be corrected.
        assert 'value="Controlled"' in response.text, given
    listed = await container.webhooks.list(team.team.id, active=None, page=PageRequest(limit=10))
    assert listed.items == []


async def test_a_bad_control_on_edit_is_shown_next_to_its_field_and_nothing_changes(
    browser: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    made = await container.webhooks.create(
        team.team.id,
        WebhookDraft(name="steady", url="https://example.com/s", events="*", rate_limit=7),
    )
    path = f"{HOME}/{made.webhook.id}"
    for given, field, message in BAD_CONTROLS:
        response = await post_form(browser, path, path, {**BASICS, **CONTROLS, **given})
        assert response.status_code == 400, (given, response.status_code)
        assert message in field_error(response.text, field), given
        kept = await container.webhooks.get(team.team.id, made.webhook.id)
        assert (kept.name, controls_of(kept)) == ("steady", ("cstar", {}, 7, "none", None))
        # The facts still show the webhook as it is, the form what was typed.
        assert "7 per second" in facts(response.text), given
        assert 'value="Controlled"' in response.text, given


def test_header_lines_read_back_as_the_headers_they_show() -> None:
    text = forms.header_lines(HEADERS)
    assert text == f"Authorization: {TOKEN}\nX-Region: eu:west\nX-Tag: <b>x</b>"
    assert forms.parse_headers(text) == HEADERS
    assert forms.parse_headers(CONTROLS["headers"]) == HEADERS
    assert forms.parse_headers("") == {}
    assert forms.parse_headers("X-Empty:") == {"X-Empty": ""}


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), ("", None), ("  ", None), (" 12 ", 12), ("-3", -3)]
)
def test_number_fields_read_empty_as_none_and_leave_the_range_to_the_service(
    raw: str | None, expected: int | None
) -> None:
    assert forms.whole_number(raw, "rateLimit") == expected


@pytest.mark.parametrize("raw", ["1.5", "1e3", "1_000", "٣", "ten", "9999999999"])
def test_number_fields_refuse_what_is_not_a_whole_number(raw: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        forms.whole_number(raw, "timeoutSeconds")
    assert refused.value.param == "timeoutSeconds"
