"""Per-team limits on webhooks and API keys: a 400 naming the limit once reached, enforced inside
the insert's transaction so that concurrent creates never exceed it (SQLite and PostgreSQL);
and a test-mode key cannot mint live-mode keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container
from cstar.server.config import ConfigError, Settings
from cstar.server.domain.models import KeyKind, KeyMode
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer

WEBHOOKS = 5
KEYS = 6  # the team starts with two (a secret and a publishable key)


@pytest.fixture
async def limited(settings: Settings, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    limits = replace(settings, max_webhooks_per_team=WEBHOOKS, max_keys_per_team=KEYS)
    container.settings = limits
    app = create_app(limits, container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def create_webhook(http: httpx.AsyncClient, team: CreatedTeam, n: int) -> httpx.Response:
    return await http.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        json={"name": f"hook {n}", "url": f"https://example.com/{n}", "events": "*"},
        headers=bearer(team.secret_key),
    )


async def create_key(http: httpx.AsyncClient, team: CreatedTeam, n: int) -> httpx.Response:
    return await http.post(
        f"/api/v1/teams/{team.team.id}/keys",
        json={"name": f"key {n}"},
        headers=bearer(team.secret_key),
    )


async def test_a_team_has_at_most_the_configured_number_of_webhooks(
    limited: httpx.AsyncClient, team: CreatedTeam, other_team: CreatedTeam
) -> None:
    created = [assert_success(await create_webhook(limited, team, n), 201) for n in range(WEBHOOKS)]
    refused = await create_webhook(limited, team, 99)
    error = assert_error(refused, 400, "validation_error", "PARAMETER_INVALID")
    assert f"already has {WEBHOOKS} webhooks" in error["message"]
    assert "CSTAR_MAX_WEBHOOKS_PER_TEAM" in error["message"]
    # Another team is not affected; deleting one makes room again.
    assert_success(await create_webhook(limited, other_team, 0), 201)
    deleted = await limited.delete(
        f"/api/v1/teams/{team.team.id}/webhooks/{created[0]['id']}",
        headers=bearer(team.secret_key),
    )
    assert_success(deleted)
    assert_success(await create_webhook(limited, team, 100), 201)


async def test_a_team_has_at_most_the_configured_number_of_active_keys(
    limited: httpx.AsyncClient, team: CreatedTeam
) -> None:
    created = [assert_success(await create_key(limited, team, n), 201) for n in range(KEYS - 2)]
    refused = await create_key(limited, team, 99)
    error = assert_error(refused, 400, "validation_error", "PARAMETER_INVALID")
    assert f"already has {KEYS} active API keys" in error["message"]
    assert "CSTAR_MAX_KEYS_PER_TEAM" in error["message"]
    revoked = await limited.delete(
        f"/api/v1/teams/{team.team.id}/keys/{created[0]['id']}", headers=bearer(team.secret_key)
    )
    assert_success(revoked)
    assert_success(await create_key(limited, team, 100), 201)


async def test_concurrent_creates_never_exceed_the_limits(
    limited: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    attempts = 4 * WEBHOOKS
    hooks = await asyncio.gather(*(create_webhook(limited, team, n) for n in range(attempts)))
    keys = await asyncio.gather(*(create_key(limited, team, n) for n in range(attempts)))
    for responses, allowed in ((hooks, WEBHOOKS), (keys, KEYS - 2)):
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * allowed + [400] * (attempts - allowed), statuses
    listed = await limited.get(
        f"/api/v1/teams/{team.team.id}/webhooks", headers=bearer(team.secret_key)
    )
    assert len(assert_success(listed)) == WEBHOOKS
    assert await container.store.count_active_keys(team.team.id, KeyKind.SECRET) == KEYS - 1


async def test_the_operator_is_not_held_to_the_key_limit(
    limited: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    """``cstar admin create-key`` is the way back in, even for a team at its limit."""
    for n in range(KEYS - 2):
        assert_success(await create_key(limited, team, n), 201)
    record, raw = await container.keys.create(
        team.team.id, kind=KeyKind.SECRET, mode=KeyMode.LIVE, name="rescue"
    )
    assert raw.startswith("sk_live_")
    assert record.is_active


async def test_a_test_mode_key_cannot_create_a_live_mode_key(
    client: httpx.AsyncClient, container: Container, team: CreatedTeam
) -> None:
    url = f"/api/v1/teams/{team.team.id}/keys"
    for kind in ("secret", "publishable"):
        response = await client.post(
            url, json={"type": kind, "mode": "live"}, headers=bearer(team.secret_key)
        )
        error = assert_error(response, 403, "authorization_error", "insufficient_permissions")
        assert "test-mode key cannot create live-mode keys" in error["message"]
    live = await container.teams.create_team("Prod", mode=KeyMode.LIVE)
    for mode in ("live", "test"):
        created = await client.post(
            f"/api/v1/teams/{live.team.id}/keys",
            json={"mode": mode},
            headers=bearer(live.secret_key),
        )
        assert assert_success(created, 201)["key"].startswith(f"sk_{mode}_")


def test_the_limits_are_settings_with_documented_defaults() -> None:
    defaults = Settings.from_env({})
    assert (defaults.max_webhooks_per_team, defaults.max_keys_per_team) == (100, 100)
    chosen = Settings.from_env(
        {"CSTAR_MAX_WEBHOOKS_PER_TEAM": "250", "CSTAR_MAX_KEYS_PER_TEAM": "20"}
    )
    assert (chosen.max_webhooks_per_team, chosen.max_keys_per_team) == (250, 20)
    for name, value in (
        ("CSTAR_MAX_WEBHOOKS_PER_TEAM", "0"),
        ("CSTAR_MAX_KEYS_PER_TEAM", "many"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})
