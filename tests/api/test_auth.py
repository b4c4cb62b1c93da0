"""Keys reach only their own team, secret keys are required, revocation is immediate."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.domain.models import KeyKind, KeyMode
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer, failure_limiter

INVALID = "Invalid or expired API key"


async def make_webhook(client: httpx.AsyncClient, team: CreatedTeam) -> str:
    response = await client.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        json={"name": "n", "url": "https://example.com/h", "events": "*"},
        headers=bearer(team.secret_key),
    )
    webhook_id: str = assert_success(response, 201)["id"]
    return webhook_id


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer sk_test_short"},
        {"Authorization": "Bearer sk_test_" + "A" * 32},
        {"Authorization": "Bearer whsec_" + "A" * 32},
        {"Authorization": ("Bearer sk_test_" + "A" * 31 + "é").encode("latin-1")},
    ],
)
async def test_missing_or_unknown_key_is_401(
    client: httpx.AsyncClient, team: CreatedTeam, headers: dict[str, Any]
) -> None:
    response = await client.get(f"/api/v1/teams/{team.team.id}/webhooks", headers=headers)
    error = assert_error(response, 401, "authentication_error", "authentication_required")
    assert error["doc_url"].endswith("#authentication")


async def test_unknown_key_message_matches_the_seed(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    response = await client.get(
        f"/api/v1/teams/{team.team.id}/webhooks", headers=bearer("sk_live_" + "x" * 32)
    )
    assert_error(response, 401, "authentication_error", "authentication_required", message=INVALID)


async def test_publishable_key_gets_403_secret_key_required(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    webhook_id = await make_webhook(client, team)
    base = f"/api/v1/teams/{team.team.id}"
    key = bearer(team.publishable_key)
    for response in (
        await client.get(f"{base}/webhooks", headers=key),
        await client.post(f"{base}/webhooks", json={}, headers=key),
        await client.post(f"{base}/webhooks", content=b"{not json", headers=key),
        await client.get(f"{base}/webhooks/{webhook_id}", headers=key),
        await client.patch(f"{base}/webhooks/{webhook_id}", json={}, headers=key),
        await client.delete(f"{base}/webhooks/{webhook_id}", headers=key),
        await client.post(f"{base}/webhooks/{webhook_id}/rotate-secret", headers=key),
        await client.get(f"{base}/keys", headers=key),
    ):
        assert_error(
            response,
            403,
            "authorization_error",
            "insufficient_permissions",
            message="Secret key required for this endpoint",
        )


async def test_a_key_never_reaches_another_team(
    client: httpx.AsyncClient, team: CreatedTeam, other_team: CreatedTeam
) -> None:
    theirs = await make_webhook(client, other_team)
    mine = await make_webhook(client, team)
    key = bearer(team.secret_key)
    # Their team in the path: 403 whatever the route.
    other_base = f"/api/v1/teams/{other_team.team.id}"
    for response in (
        await client.get(f"{other_base}/webhooks", headers=key),
        await client.get(f"{other_base}/webhooks/{theirs}", headers=key),
        await client.patch(f"{other_base}/webhooks/{theirs}", json={"name": "x"}, headers=key),
        await client.delete(f"{other_base}/webhooks/{theirs}", headers=key),
        await client.post(f"{other_base}/webhooks/{theirs}/rotate-secret", headers=key),
        await client.post(
            f"{other_base}/webhooks",
            json={"name": "x", "url": "https://e.com", "events": "*"},
            headers=key,
        ),
        await client.get(f"{other_base}/keys", headers=key),
        await client.get("/api/v1/teams/not-a-team/webhooks", headers=key),
    ):
        assert_error(response, 403, "authorization_error", "insufficient_permissions")
    # Their webhook id under my team: it does not exist for me.
    my_base = f"/api/v1/teams/{team.team.id}"
    for response in (
        await client.get(f"{my_base}/webhooks/{theirs}", headers=key),
        await client.patch(f"{my_base}/webhooks/{theirs}", json={"name": "x"}, headers=key),
        await client.delete(f"{my_base}/webhooks/{theirs}", headers=key),
        await client.post(f"{my_base}/webhooks/{theirs}/rotate-secret", headers=key),
    ):
        assert_error(response, 404, "not_found_error", "RESOURCE_MISSING")
    listed = assert_success(await client.get(f"{my_base}/webhooks", headers=key))
    assert [w["id"] for w in listed] == [mine]
    # And their webhook is untouched.
    theirs_now = assert_success(
        await client.get(f"{other_base}/webhooks/{theirs}", headers=bearer(other_team.secret_key))
    )
    assert theirs_now["name"] == "n"


async def test_revoked_key_gets_401_at_once(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    base = f"/api/v1/teams/{team.team.id}"
    created = assert_success(
        await client.post(f"{base}/keys", json={"name": "ci"}, headers=bearer(team.secret_key)),
        201,
    )
    new_key = bearer(created["key"])
    assert_success(await client.get(f"{base}/webhooks", headers=new_key))
    assert_success(await client.delete(f"{base}/keys/{created['id']}", headers=new_key))
    response = await client.get(f"{base}/webhooks", headers=new_key)
    assert_error(response, 401, "authentication_error", "authentication_required", message=INVALID)


async def test_a_key_revoked_by_another_process_stops_working_within_the_cache_ttl(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:
    """``CSTAR_KEY_CACHE_TTL``: this process trusts a key it looked up for that long; a
    revocation made elsewhere (another replica, here a second container) is seen after it."""
    del container  # the team's database is what matters
    ttl = 0.3
    cached = replace(settings, key_cache_ttl=ttl)
    ours = await open_container(cached, bootstrap=False)
    other = await open_container(settings, bootstrap=False)
    try:
        app = create_app(cached, container=ours)
        created, raw = await ours.keys.create(
            team.team.id, kind=KeyKind.SECRET, mode=KeyMode.TEST, name="ci"
        )
        url = f"/api/v1/teams/{team.team.id}/webhooks"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert_success(await client.get(url, headers=bearer(raw)))
            await other.keys.revoke(team.team.id, created.id)
            # Still in this process's cache: the revocation happened elsewhere.
            assert_success(await client.get(url, headers=bearer(raw)))
            await asyncio.sleep(ttl + 0.05)
            response = await client.get(url, headers=bearer(raw))
            assert_error(
                response, 401, "authentication_error", "authentication_required", message=INVALID
            )
    finally:
        await other.aclose()
        await ours.aclose()


async def test_key_last_used_is_recorded(
    client: httpx.AsyncClient, team: CreatedTeam, container: Container
) -> None:
    await client.get(f"/api/v1/teams/{team.team.id}/webhooks", headers=bearer(team.secret_key))
    keys = await container.store.list_keys(
        team.team.id,
        __import__("cstar.server.domain.pagination", fromlist=["PageRequest"]).PageRequest(),
    )
    used = [k for k in keys.items if k.kind.value == "secret"]
    assert used[0].last_used_at is not None


async def test_failed_authentications_are_limited_per_address_but_valid_keys_pass(
    settings: Settings, container: Container, team: CreatedTeam
) -> None:
    container.auth_failure_limiter = failure_limiter(container, 3, 60)
    app = create_app(replace(settings), container=container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        url = f"/api/v1/teams/{team.team.id}/webhooks"
        for _ in range(3):
            assert (await http.get(url, headers=bearer("sk_test_" + "z" * 32))).status_code == 401
        blocked = await http.get(url, headers=bearer("sk_test_" + "y" * 32))
        anonymous = await http.get(url)
        # Someone else at the same address (a NAT, an office) with a valid key is served.
        valid = await http.get(url, headers=bearer(team.secret_key))
    error = assert_error(blocked, 429, "rate_limit_error", "rate_limit_exceeded")
    assert int(blocked.headers["retry-after"]) >= 1
    assert error["message"].startswith("Rate limit exceeded. Try again in ")
    assert_error(anonymous, 429, "rate_limit_error", "rate_limit_exceeded")
    assert_success(valid)
