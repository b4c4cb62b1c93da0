"""GET /api/v1/status: the caller's team and key, the server, and the key's rate limit, the same
numbers as the X-RateLimit-* headers of the same response."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from cstar import __version__
from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.domain.models import KeyMode
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer, key_limiter

STATUS = "/api/v1/status"


def limit_headers(response: httpx.Response) -> dict[str, int]:
    return {
        "limit": int(response.headers["x-ratelimit-limit"]),
        "remaining": int(response.headers["x-ratelimit-remaining"]),
        "reset": int(response.headers["x-ratelimit-reset"]),
    }


async def key_of(client: httpx.AsyncClient, team: CreatedTeam, kind: str) -> dict[str, str]:
    keys = assert_success(
        await client.get(f"/api/v1/teams/{team.team.id}/keys", headers=bearer(team.secret_key))
    )
    found: dict[str, str] = next(k for k in keys if k["type"] == kind)
    return found


@pytest.mark.parametrize("kind", ["secret", "publishable"])
async def test_every_field_for_both_key_types(
    client: httpx.AsyncClient, container: Container, team: CreatedTeam, backend: str, kind: str
) -> None:
    raw = team.secret_key if kind == "secret" else team.publishable_key
    response = await client.get(STATUS, headers=bearer(raw))
    data = assert_success(response)
    assert set(data) == {"team", "key", "server", "rateLimit"}
    assert data["team"] == {"id": team.team.id, "name": "Acme Support"}
    stored = await key_of(client, team, kind)
    assert data["key"] == {
        "id": stored["id"],
        "type": kind,
        "mode": "test",
        "prefix": raw[:12],
        "name": stored["name"],
    }
    assert data["server"] == {
        "version": __version__,
        "dev": False,
        "database": "sqlite" if backend == "sqlite" else "postgresql",
    }
    limit = data["rateLimit"]
    assert set(limit) == {"limit", "remaining", "reset", "windowSeconds"}
    assert limit["windowSeconds"] == 60
    assert limit["limit"] == 1000
    assert {k: limit[k] for k in ("limit", "remaining", "reset")} == limit_headers(response)
    assert limit["reset"] % 60 == 0
    assert limit["reset"] > int(container.clock().timestamp())
    assert raw not in response.text


async def test_the_rate_limit_counts_this_request_and_matches_the_headers(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:
    container.key_limiter = key_limiter(container, 3, 3600)
    app = create_app(settings, container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        seen = []
        for _ in range(3):
            response = await http.get(STATUS, headers=bearer(team.secret_key))
            limit = assert_success(response)["rateLimit"]
            assert {k: limit[k] for k in ("limit", "remaining", "reset")} == limit_headers(response)
            assert limit["windowSeconds"] == 3600
            assert limit["reset"] % 3600 == 0
            seen.append(limit["remaining"])
        assert seen == [2, 1, 0]
        blocked = await http.get(STATUS, headers=bearer(team.secret_key))
        assert_error(blocked, 429, "rate_limit_error", "rate_limit_exceeded")
        assert blocked.headers["x-ratelimit-remaining"] == "0"
        assert int(blocked.headers["retry-after"]) >= 1
        # Each key has its own window: the publishable key has used none of it.
        other = await http.get(STATUS, headers=bearer(team.publishable_key))
        assert assert_success(other)["rateLimit"]["remaining"] == 2


async def test_a_live_key_and_a_dev_server_say_so(
    client: httpx.AsyncClient, container: Container
) -> None:
    team = await container.teams.create_team("Prod", mode=KeyMode.LIVE)  # live keys make live keys
    created = assert_success(
        await client.post(
            f"/api/v1/teams/{team.team.id}/keys",
            json={"name": "deploy", "type": "publishable", "mode": "live"},
            headers=bearer(team.secret_key),
        ),
        201,
    )
    container.settings = replace(container.settings, dev=True)
    data = assert_success(await client.get(STATUS, headers=bearer(created["key"])))
    assert data["key"] == {
        "id": created["id"],
        "type": "publishable",
        "mode": "live",
        "prefix": created["key"][:12],
        "name": "deploy",
    }
    assert data["server"]["dev"] is True


@pytest.fixture
async def revoked(client: httpx.AsyncClient, team: CreatedTeam) -> str:
    created = assert_success(
        await client.post(f"/api/v1/teams/{team.team.id}/keys", headers=bearer(team.secret_key)),
        201,
    )
    assert_success(
        await client.delete(
            f"/api/v1/teams/{team.team.id}/keys/{created['id']}", headers=bearer(team.secret_key)
        )
    )
    key: str = created["key"]
    return key


async def test_no_unknown_or_revoked_key_is_401(client: httpx.AsyncClient, revoked: str) -> None:
    for headers in ({}, bearer("sk_test_" + "Q" * 32), bearer(revoked), bearer("nonsense")):
        response = await client.get(STATUS, headers=headers)
        assert_error(response, 401, "authentication_error", "authentication_required")
        assert "x-ratelimit-limit" not in response.headers


async def test_only_get_is_allowed(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    response = await client.post(STATUS, headers=bearer(team.secret_key))
    assert_error(response, 405, "invalid_request_error", "method_not_allowed")
    assert response.headers["allow"] == "GET"


async def test_the_database_being_away_is_503(
    client: httpx.AsyncClient,
    container: Container,
    team: CreatedTeam,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cstar.server.store.contract import StoreError

    async def broken(team_id: str) -> None:
        raise StoreError("database read failed: down")

    # Authentication has found the key; reading its team fails.
    monkeypatch.setattr(container.store, "get_team", broken)
    response = await client.get(STATUS, headers=bearer(team.secret_key))
    assert_error(response, 503, "api_error", "service_unavailable")
