"""Every error a client can cause answers in the seed's envelope, with the right type, code and
param, and never a 500 or a traceback."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.contract import StoreError
from tests.helpers import assert_error, assert_success, bearer

VALID = {"name": "n", "url": "https://example.com/hook", "events": "ticket.created"}

# (description, body-or-raw-bytes, expected status, code, param)
CREATE_CASES: list[tuple[str, Any, int, str, str | None]] = [
    ("malformed JSON", b'{"name": "x",', 400, "PARAMETER_INVALID", "body"),
    ("body is an array", b"[1, 2]", 400, "PARAMETER_INVALID", "body"),
    ("body is a string", b'"hello"', 400, "PARAMETER_INVALID", "body"),
    ("empty body", b"", 400, "PARAMETER_MISSING", "body"),
    ("not UTF-8", b'{"name": "\xff\xfe"}', 400, "PARAMETER_INVALID", "body"),
    ("missing name", {"url": VALID["url"], "events": "*"}, 400, "PARAMETER_MISSING", "name"),
    ("missing url", {"name": "n", "events": "*"}, 400, "PARAMETER_MISSING", "url"),
    ("missing events", {"name": "n", "url": VALID["url"]}, 400, "PARAMETER_MISSING", "events"),
    ("name wrong type", {**VALID, "name": 5}, 400, "PARAMETER_INVALID", "name"),
    ("name empty", {**VALID, "name": "   "}, 400, "PARAMETER_INVALID", "name"),
    ("name oversized", {**VALID, "name": "x" * 201}, 400, "PARAMETER_INVALID", "name"),
    ("name control chars", {**VALID, "name": "a\x00b"}, 400, "PARAMETER_INVALID", "name"),
    ("isActive as string", {**VALID, "isActive": "yes"}, 400, "PARAMETER_INVALID", "isActive"),
    ("isActive as int", {**VALID, "isActive": 1}, 400, "PARAMETER_INVALID", "isActive"),
    ("url http", {**VALID, "url": "http://example.com/h"}, 400, "PARAMETER_INVALID", "url"),
    ("url ftp", {**VALID, "url": "ftp://example.com/h"}, 400, "PARAMETER_INVALID", "url"),
    ("url no host", {**VALID, "url": "https:///path"}, 400, "PARAMETER_INVALID", "url"),
    ("url not a url", {**VALID, "url": "example.com"}, 400, "PARAMETER_INVALID", "url"),
    ("url bad port", {**VALID, "url": "https://e.com:99999/"}, 400, "PARAMETER_INVALID", "url"),
    ("url spaces", {**VALID, "url": "https://e.com/a b"}, 400, "PARAMETER_INVALID", "url"),
    ("url creds", {**VALID, "url": "https://u:p@e.com/"}, 400, "PARAMETER_INVALID", "url"),
    ("url loopback", {**VALID, "url": "https://127.0.0.1/h"}, 400, "PARAMETER_INVALID", "url"),
    ("url localhost", {**VALID, "url": "https://localhost/h"}, 400, "PARAMETER_INVALID", "url"),
    ("url private", {**VALID, "url": "https://10.1.2.3/h"}, 400, "PARAMETER_INVALID", "url"),
    ("url metadata", {**VALID, "url": "https://169.254.169.254/"}, 400, "PARAMETER_INVALID", "url"),
    ("url ipv6 lo", {**VALID, "url": "https://[::1]/h"}, 400, "PARAMETER_INVALID", "url"),
    (
        "url oversized",
        {**VALID, "url": "https://e.com/" + "a" * 2100},
        400,
        "PARAMETER_INVALID",
        "url",
    ),
    ("events unknown", {**VALID, "events": "ticket.exploded"}, 400, "PARAMETER_INVALID", "events"),
    (
        "events unknown in list",
        {**VALID, "events": ["ticket.created", "x.y"]},
        400,
        "PARAMETER_INVALID",
        "events",
    ),
    ("events bad wildcard", {**VALID, "events": "*.created"}, 400, "PARAMETER_INVALID", "events"),
    ("events number", {**VALID, "events": 7}, 400, "PARAMETER_INVALID", "events"),
    ("events list of numbers", {**VALID, "events": [1, 2]}, 400, "PARAMETER_INVALID", "events"),
    ("events empty string", {**VALID, "events": ""}, 400, "PARAMETER_INVALID", "events"),
    ("events empty list", {**VALID, "events": []}, 400, "PARAMETER_INVALID", "events"),
    (
        "events empty entry",
        {**VALID, "events": "ticket.created,,"},
        400,
        "PARAMETER_INVALID",
        "events",
    ),
    (
        "events too many",
        {**VALID, "events": ["ticket.created"] * 101},
        400,
        "PARAMETER_INVALID",
        "events",
    ),
    ("unknown field", {**VALID, "colour": "red"}, 400, "PARAMETER_INVALID", "colour"),
    ("snake_case field", {**VALID, "is_active": True}, 400, "PARAMETER_INVALID", "is_active"),
    ("secret not settable", {**VALID, "secret": "whsec_mine"}, 400, "PARAMETER_INVALID", "secret"),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [c[1:] for c in CREATE_CASES],
    ids=[c[0] for c in CREATE_CASES],
)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient, team: CreatedTeam, body: Any, status: int, code: str, param: str
) -> None:
    url = f"/api/v1/teams/{team.team.id}/webhooks"
    headers = {**bearer(team.secret_key), "Content-Type": "application/json"}
    if isinstance(body, bytes):
        response = await client.post(url, content=body, headers=headers)
    else:
        response = await client.post(url, json=body, headers=headers)
    assert_error(response, status, "validation_error", code, param=param)
    listed = assert_success(await client.get(url, headers=bearer(team.secret_key)))
    assert listed == []


async def test_unknown_event_message_names_it(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    response = await client.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        json={**VALID, "events": "ticket.created,invalid.event"},
        headers=bearer(team.secret_key),
    )
    assert_error(
        response,
        400,
        "validation_error",
        "PARAMETER_INVALID",
        param="events",
        message="Unknown event type: invalid.event",
    )


async def test_json_body_without_content_type_is_read_as_json(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    """``curl -d '{...}'`` without ``-H Content-Type`` sends a form type; it still works."""
    import json

    response = await client.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        content=json.dumps(VALID).encode(),
        headers={**bearer(team.secret_key), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_success(response, 201)


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("whk_doesnotexist00000000", "webhookId"),
        ("not-an-id", "webhookId"),
        ("whk_" + "a" * 64, "webhookId"),
        ("%00", "webhookId"),
    ],
)
async def test_bad_webhook_ids_are_404(
    client: httpx.AsyncClient, team: CreatedTeam, path: str, param: str
) -> None:
    base = f"/api/v1/teams/{team.team.id}/webhooks/{path}"
    headers = bearer(team.secret_key)
    for response in (
        await client.get(base, headers=headers),
        await client.patch(base, json={"name": "x"}, headers=headers),
        await client.delete(base, headers=headers),
        await client.post(f"{base}/rotate-secret", headers=headers),
    ):
        assert_error(response, 404, "not_found_error", "RESOURCE_MISSING", param=param)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"active": "maybe"}, "active"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "bm90fGE"}, "cursor"),
    ],
)
async def test_bad_list_parameters(
    client: httpx.AsyncClient, team: CreatedTeam, params: dict[str, str], param: str
) -> None:
    response = await client.get(
        f"/api/v1/teams/{team.team.id}/webhooks", params=params, headers=bearer(team.secret_key)
    )
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param=param)


async def test_unknown_route_is_404_in_the_envelope(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    for path in ("/api/v1/nothing", f"/api/v1/teams/{team.team.id}/nothing", "/api/v2/x"):
        response = await client.get(path, headers=bearer(team.secret_key))
        assert_error(response, 404, "not_found_error", "RESOURCE_MISSING")
    response = await client.get("/no/such/page")
    assert_error(response, 404, "not_found_error", "RESOURCE_MISSING")


async def test_wrong_method_is_405_in_the_envelope(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    response = await client.put(
        f"/api/v1/teams/{team.team.id}/webhooks", headers=bearer(team.secret_key)
    )
    assert_error(response, 405, "invalid_request_error", "method_not_allowed")
    assert "GET" in response.headers["allow"]
    assert "POST" in response.headers["allow"]


async def test_oversized_body_is_413(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:
    app = create_app(replace(settings, max_body_bytes=2048), container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        url = f"/api/v1/teams/{team.team.id}/webhooks"
        big = {**VALID, "name": "x" * 5000}
        response = await http.post(url, json=big, headers=bearer(team.secret_key))
        assert_error(response, 413, "validation_error", "PARAMETER_INVALID", param="body")

        async def chunks() -> Any:  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b" " * 1000

        streamed = await http.post(url, content=chunks(), headers=bearer(team.secret_key))
        assert_error(streamed, 413, "validation_error", "PARAMETER_INVALID", param="body")


async def test_key_create_rejects_bad_input(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    url = f"/api/v1/teams/{team.team.id}/keys"
    headers = bearer(team.secret_key)
    for body, param in (
        ({"type": "admin"}, "type"),
        ({"mode": "prod"}, "mode"),
        ({"name": "x" * 201}, "name"),
        ({"name": 3}, "name"),
        ({"scopes": ["all"]}, "scopes"),
    ):
        response = await client.post(url, json=body, headers=headers)
        assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param=param)


async def test_catalog_rejects_an_unknown_category(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    response = await client.get(
        "/api/v1/events", params={"category": "weather"}, headers=bearer(team.secret_key)
    )
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="category")


async def test_a_repeated_query_parameter_is_refused_not_resolved(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    base = f"/api/v1/teams/{team.team.id}"
    headers = bearer(team.secret_key)
    for url in (
        f"{base}/webhooks?cursor=abc&cursor=",
        f"{base}/webhooks?active=true&active=false",
        f"{base}/keys?limit=5&limit=6",
        "/api/v1/events?category=tickets&category=surveys",
    ):
        response = await client.get(url, headers=headers)
        name = url.split("?", 1)[1].split("=", 1)[0]
        assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param=name)
    # A repeated parameter from an unauthenticated caller is still a 401 first.
    anonymous = await client.get(f"{base}/webhooks?cursor=a&cursor=b")
    assert anonymous.status_code == 401
    assert (await client.get(f"{base}/webhooks?active=true&limit=5", headers=headers)).is_success


async def test_server_error_logs_show_the_path_redacted(
    settings: Settings, container: Container, team: CreatedTeam, caplog: pytest.LogCaptureFixture
) -> None:
    """The log lines of a database failure (503) and of a bug (500) name the request's path as
    the request log keeps it: no key or secret from the URL, no query values."""
    app = create_app(settings, container=container)

    async def unavailable(anything: str) -> None:
        raise StoreError("database read failed: connection refused")

    async def bug(anything: str) -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/v1/unavailable/{anything}", unavailable)
    app.add_api_route("/api/v1/bug/{anything}", bug)
    secret = "whsec_" + "L3ak" * 10
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
    ) as http:
        for route, status in (("unavailable", 503), ("bug", 500)):
            response = await http.get(
                f"/api/v1/{route}/{secret}",
                params={"key": team.secret_key},
                headers=bearer(team.secret_key),
            )
            assert response.status_code == status
    assert secret not in caplog.text
    assert team.secret_key not in caplog.text
    assert "database error on GET /api/v1/unavailable/[redacted]?key:" in caplog.text
    assert "unhandled error on GET /api/v1/bug/[redacted]?key" in caplog.text


async def test_a_concrete_path_is_not_read_as_a_webhook_id(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    """``/webhooks/trigger-test`` serves POST only, as the OpenAPI document says: the other
    methods are a 405 listing POST, not a lookup of a webhook called "trigger-test"."""
    url = f"/api/v1/teams/{team.team.id}/webhooks/trigger-test"
    for method in ("GET", "PATCH", "DELETE", "PUT", "OPTIONS"):
        response = await client.request(method, url, headers=bearer(team.secret_key))
        assert_error(response, 405, "invalid_request_error", "method_not_allowed")
        assert response.headers["allow"] == "POST"
    other = await client.get(
        f"/api/v1/teams/{team.team.id}/webhooks/trigger-tests", headers=bearer(team.secret_key)
    )
    assert_error(other, 404, "not_found_error", "RESOURCE_MISSING", param="webhookId")
