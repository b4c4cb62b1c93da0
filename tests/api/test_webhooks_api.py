"""The webhook management API of seed 002, field by field, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
WEBHOOK_FIELDS = {
    "id",
    "name",
    "url",
    "events",
    "isActive",
    "createdAt",
    "updatedAt",
    "consecutiveFailures",
    "lastDeliveryAt",
    "lastDeliveryStatus",
    "disabledReason",
    "disabledAt",
    "signatureScheme",
    "headers",
    "rateLimit",
    "ordering",
    "timeoutSeconds",
}


def base(team: CreatedTeam) -> str:
    return f"/api/v1/teams/{team.team.id}/webhooks"


async def create(client: httpx.AsyncClient, team: CreatedTeam, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "My Webhook",
        "url": "https://example.com/webhook",
        "events": "ticket.created,ticket.closed",
        **fields,
    }
    response = await client.post(base(team), json=body, headers=bearer(team.secret_key))
    data: dict[str, Any] = assert_success(response, 201)
    return data


async def test_create_answers_the_documented_object_with_the_secret_once(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    data = await create(client, team)
    assert set(data) == WEBHOOK_FIELDS | {"secret"}
    assert re.fullmatch(r"whk_[0-9A-Za-z]{20}", data["id"])
    assert re.fullmatch(r"whsec_[0-9A-Za-z]{40}", data["secret"])
    assert data["name"] == "My Webhook"
    assert data["url"] == "https://example.com/webhook"
    assert data["events"] == ["ticket.created", "ticket.closed"]
    assert data["isActive"] is True
    assert ISO_Z.match(data["createdAt"])
    assert ISO_Z.match(data["updatedAt"])

    got = assert_success(
        await client.get(f"{base(team)}/{data['id']}", headers=bearer(team.secret_key))
    )
    assert set(got) == WEBHOOK_FIELDS
    assert "secret" not in got
    assert data["secret"] not in str(got)


async def test_events_accept_a_json_array_and_always_answer_an_array(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    data = await create(
        client, team, events=["ticket.created", "customer.*", "ticket.created", " *"]
    )
    assert data["events"] == ["ticket.created", "customer.*", "*"]


async def test_list_is_newest_first_and_never_shows_secrets(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    first = await create(client, team, name="first")
    second = await create(client, team, name="second")
    response = await client.get(base(team), headers=bearer(team.secret_key))
    data = assert_success(response)
    assert [w["id"] for w in data] == [second["id"], first["id"]]
    assert all(set(w) == WEBHOOK_FIELDS for w in data)
    assert first["secret"] not in response.text
    assert second["secret"] not in response.text
    pagination = response.json()["meta"]["pagination"]
    assert pagination == {"limit": 20, "hasMore": False, "nextCursor": None}


async def test_list_filters_by_active(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    on = await create(client, team, name="on")
    off = await create(client, team, name="off", isActive=False)
    headers = bearer(team.secret_key)
    actives = assert_success(
        await client.get(base(team), params={"active": "true"}, headers=headers)
    )
    inactives = assert_success(
        await client.get(base(team), params={"active": "false"}, headers=headers)
    )
    assert [w["id"] for w in actives] == [on["id"]]
    assert [w["id"] for w in inactives] == [off["id"]]


async def test_cursor_pagination_walks_every_webhook_once(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    created = [(await create(client, team, name=f"w{i}"))["id"] for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(base(team), params=params, headers=bearer(team.secret_key))
        seen += [w["id"] for w in assert_success(response)]
        pagination = response.json()["meta"]["pagination"]
        pages += 1
        cursor = pagination["nextCursor"]
        assert pagination["hasMore"] is (cursor is not None)
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))


async def test_update_changes_only_what_is_sent(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await create(client, team)
    url = f"{base(team)}/{hook['id']}"
    headers = bearer(team.secret_key)
    data = assert_success(
        await client.patch(
            url, json={"events": "ticket.created,ticket.updated,ticket.closed"}, headers=headers
        )
    )
    assert data["events"] == ["ticket.created", "ticket.updated", "ticket.closed"]
    assert data["name"] == "My Webhook"
    assert data["url"] == hook["url"]
    assert "secret" not in data

    paused = assert_success(await client.patch(url, json={"isActive": False}, headers=headers))
    assert paused["isActive"] is False
    assert paused["events"] == data["events"]

    renamed = assert_success(
        await client.patch(
            url, json={"name": "Renamed", "url": "https://hooks.example.org/in"}, headers=headers
        )
    )
    assert renamed["name"] == "Renamed"
    assert renamed["url"] == "https://hooks.example.org/in"
    assert renamed["isActive"] is False

    noop = assert_success(await client.patch(url, json={}, headers=headers))
    assert noop["name"] == "Renamed"


@pytest.mark.parametrize("field", ["name", "url", "events", "isActive"])
async def test_update_rejects_null(
    client: httpx.AsyncClient, team: CreatedTeam, field: str
) -> None:
    hook = await create(client, team)
    response = await client.patch(
        f"{base(team)}/{hook['id']}", json={field: None}, headers=bearer(team.secret_key)
    )
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param=field)


async def test_delete_answers_deleted_and_the_webhook_is_gone(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await create(client, team)
    url = f"{base(team)}/{hook['id']}"
    headers = bearer(team.secret_key)
    data = assert_success(await client.delete(url, headers=headers))
    assert data == {"id": hook["id"], "deleted": True}
    for response in (
        await client.get(url, headers=headers),
        await client.delete(url, headers=headers),
        await client.patch(url, json={"name": "x"}, headers=headers),
    ):
        assert_error(
            response, 404, "not_found_error", "RESOURCE_MISSING", message="Webhook not found"
        )


async def test_rotate_secret_returns_a_new_secret_once(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await create(client, team)
    headers = bearer(team.secret_key)
    rotated = assert_success(
        await client.post(f"{base(team)}/{hook['id']}/rotate-secret", headers=headers)
    )
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != hook["secret"]
    assert rotated["previousSecretExpiresAt"] is None
    assert set(rotated) == WEBHOOK_FIELDS | {"secret", "previousSecretExpiresAt"}
    got = await client.get(f"{base(team)}/{hook['id']}", headers=headers)
    assert rotated["secret"] not in got.text


async def test_rotate_secret_with_a_grace_period_keeps_both_secrets_signing(
    client: httpx.AsyncClient, team: CreatedTeam, container: Any
) -> None:
    hook = await create(client, team)
    rotated = assert_success(
        await client.post(
            f"{base(team)}/{hook['id']}/rotate-secret",
            json={"gracePeriodSeconds": 3600},
            headers=bearer(team.secret_key),
        )
    )
    assert ISO_Z.match(rotated["previousSecretExpiresAt"])
    stored = await container.webhooks.get(team.team.id, hook["id"])
    assert container.webhooks.signing_secrets(stored) == (rotated["secret"], hook["secret"])


@pytest.mark.parametrize("grace", [-1, 7 * 24 * 3600 + 1, "60", 1.5])
async def test_rotate_secret_rejects_a_bad_grace_period(
    client: httpx.AsyncClient, team: CreatedTeam, grace: Any
) -> None:
    hook = await create(client, team)
    response = await client.post(
        f"{base(team)}/{hook['id']}/rotate-secret",
        json={"gracePeriodSeconds": grace},
        headers=bearer(team.secret_key),
    )
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="gracePeriodSeconds")


async def test_dev_mode_allows_http_and_loopback(
    settings: Any, container: Any, team: CreatedTeam
) -> None:
    from dataclasses import replace

    from cstar.server.api.app import create_app
    from cstar.server.services.webhooks import WebhookService

    container.webhooks = WebhookService(container.store, container.box, container.clock, dev=True)
    app = create_app(replace(settings, dev=True), container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as dev_client:
        data = await create(dev_client, team, url="http://127.0.0.1:3000/webhook")
    assert data["url"] == "http://127.0.0.1:3000/webhook"
