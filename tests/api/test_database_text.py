"""What a client sends that a database cannot hold (NUL in text, instants beyond the year 9999 in
UTC) is a 400 at the edge, the same answer on SQLite and PostgreSQL: never the 503 "database
unavailable" that would make the SDK retry a request that can never succeed."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from cstar.server.bootstrap import Container
from cstar.server.domain.models import KeyKind
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer


def url(team: CreatedTeam, path: str) -> str:
    return f"/api/v1/teams/{team.team.id}{path}"


async def webhook_id(client: httpx.AsyncClient, team: CreatedTeam) -> str:
    created = await client.post(
        url(team, "/webhooks"),
        json={"name": "all", "url": "https://example.com/hook", "events": "*"},
        headers=bearer(team.secret_key),
    )
    return str(assert_success(created, 201)["id"])


@pytest.mark.parametrize(
    "since",
    [
        "0001-01-01T00:00:00+00:01",  # before the year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after the year 9999 in UTC
    ],
)
async def test_recover_refuses_an_instant_no_database_holds(
    client: httpx.AsyncClient, team: CreatedTeam, since: str
) -> None:
    hook = await webhook_id(client, team)
    response = await client.post(
        url(team, f"/webhooks/{hook}/recover"),
        json={"since": since},
        headers=bearer(team.secret_key),
    )
    error = assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="since")
    assert "9999" in error["message"]


@pytest.mark.parametrize(
    "since", [0, 1700000000, "1700000000", "2026-11-20", "2026-11-20T00:00:00", "yesterday", None]
)
async def test_recover_takes_only_an_iso_8601_string_with_a_timezone(
    client: httpx.AsyncClient, team: CreatedTeam, since: Any
) -> None:
    hook = await webhook_id(client, team)
    response = await client.post(
        url(team, f"/webhooks/{hook}/recover"),
        json={"since": since},
        headers=bearer(team.secret_key),
    )
    error = assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="since")
    assert "timezone" in error["message"]


async def test_recover_echoes_an_early_since_as_iso_8601(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await webhook_id(client, team)
    response = await client.post(
        url(team, f"/webhooks/{hook}/recover"),
        json={"since": "0675-08-11T18:53:28+15:50"},
        headers=bearer(team.secret_key),
    )
    data = assert_success(response, 202)
    assert data["since"] == "0675-08-11T03:03:28Z"
    assert data["requeued"] == 0


async def test_nul_in_an_idempotency_key_is_refused(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await webhook_id(client, team)
    for key in ("order\x0042", "\x00", "tab\there"):
        response = await client.post(
            url(team, "/events"),
            json={"type": "ticket.created", "data": {}, "idempotencyKey": key},
            headers=bearer(team.secret_key),
        )
        assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="idempotencyKey")
    listed = await client.get(
        url(team, f"/webhooks/{hook}/deliveries"), headers=bearer(team.secret_key)
    )
    assert assert_success(listed) == []


async def test_nul_in_a_key_name_is_refused(
    client: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    for name in ("deploy\x00bot", "line\nbreak"):
        response = await client.post(
            url(team, "/keys"), json={"name": name}, headers=bearer(team.secret_key)
        )
        assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="name")
    assert await container.store.count_active_keys(team.team.id, KeyKind.SECRET) == 1


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/webhooks", "/keys", "/webhooks/{webhookId}/deliveries"])
@pytest.mark.parametrize(
    "raw",
    [
        "2026-01-01T00:00:00+00:00|whk_\x00",  # NUL in the id
        "0001-01-01T00:00:00+00:01|whk_abc",  # before the year 1 in UTC
        "9999-12-31T23:59:59-23:59|whk_abc",  # after the year 9999 in UTC
    ],
)
async def test_a_hand_made_cursor_the_database_could_not_compare_is_refused(
    client: httpx.AsyncClient, team: CreatedTeam, path: str, raw: str
) -> None:
    hook = await webhook_id(client, team)
    response = await client.get(
        url(team, path.replace("{webhookId}", hook)),
        params={"cursor": cursor(raw)},
        headers=bearer(team.secret_key),
    )
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="cursor")


async def test_nul_in_ids_and_query_values_never_reaches_the_database(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await webhook_id(client, team)
    headers = bearer(team.secret_key)
    for method, path, param in (
        ("GET", "/webhooks/whk_%00", "webhookId"),
        ("GET", "/deliveries/dlv_%00aaaaaaaaaaaaaaaa", "deliveryId"),
        ("POST", "/deliveries/dlv_%00/resend", "deliveryId"),
        ("DELETE", "/keys/key_%00", "keyId"),
    ):
        response = await client.request(method, url(team, path), headers=headers)
        assert_error(response, 404, "not_found_error", "RESOURCE_MISSING", param=param)
    for path, params, param in (
        (f"/webhooks/{hook}/deliveries", {"eventType": "ticket.\x00"}, "eventType"),
        (f"/webhooks/{hook}/deliveries", {"status": "failed\x00"}, "status"),
        ("/logs", {"method": "GET\x00"}, "method"),
        ("/logs", {"status": "4\x00x"}, "status"),
    ):
        response = await client.get(url(team, path), params=params, headers=headers)
        assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param=param)
    response = await client.get("/api/v1/events", params={"category": "\x00"}, headers=headers)
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="category")
    # Another team's id, with a NUL in it, is a 403 decided before any query.
    response = await client.get("/api/v1/teams/%00/webhooks", headers=headers)
    assert_error(response, 403, "authorization_error", "insufficient_permissions")


async def test_the_request_log_keeps_a_path_with_nul_escaped(
    client: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    headers = bearer(team.secret_key)
    response = await client.get(url(team, "/webhooks/a%00b?x%00y=1"), headers=headers)
    assert response.status_code == 404
    await container.request_log.flush()
    logged = assert_success(await client.get(url(team, "/logs"), headers=headers))
    assert logged[0]["path"] == f"/api/v1/teams/{team.team.id}/webhooks/a%00b?x%00y"
