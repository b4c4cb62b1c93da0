"""The keys API: list (prefix, type, mode, created, last used), create (shown once), revoke."""

from __future__ import annotations

import re

import httpx

from cstar.server.bootstrap import Container
from cstar.server.domain.models import KeyMode
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer

KEY_FIELDS = {
    "id",
    "name",
    "type",
    "mode",
    "prefix",
    "last4",
    "isActive",
    "createdAt",
    "lastUsedAt",
    "revokedAt",
}


def keys_url(team: CreatedTeam) -> str:
    return f"/api/v1/teams/{team.team.id}/keys"


async def test_list_shows_both_bootstrap_keys_without_the_keys_themselves(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    response = await client.get(keys_url(team), headers=bearer(team.secret_key))
    data = assert_success(response)
    assert {k["type"] for k in data} == {"secret", "publishable"}
    assert all(set(k) == KEY_FIELDS for k in data)
    assert all(k["mode"] == "test" and k["isActive"] for k in data)
    by_type = {k["type"]: k for k in data}
    assert by_type["secret"]["prefix"] == team.secret_key[:12]
    assert by_type["secret"]["last4"] == team.secret_key[-4:]
    assert by_type["publishable"]["prefix"].startswith("pk_test_")
    assert team.secret_key not in response.text
    assert team.publishable_key not in response.text
    assert response.json()["meta"]["pagination"]["hasMore"] is False
    # The listing request itself used the secret key: it is recorded.
    assert by_type["secret"]["lastUsedAt"] is not None


async def test_create_shows_the_key_once_and_it_works(
    client: httpx.AsyncClient, container: Container
) -> None:
    team = await container.teams.create_team("Prod", mode=KeyMode.LIVE)  # live keys make live keys
    created = assert_success(
        await client.post(
            keys_url(team),
            json={"name": "deploy bot", "type": "secret", "mode": "live"},
            headers=bearer(team.secret_key),
        ),
        201,
    )
    assert set(created) == KEY_FIELDS | {"key"}
    assert re.fullmatch(r"sk_live_[0-9A-Za-z]{32}", created["key"])
    assert created["name"] == "deploy bot"
    assert created["mode"] == "live"
    assert created["prefix"] == created["key"][:12]
    listing = await client.get(keys_url(team), headers=bearer(created["key"]))
    assert created["key"] not in listing.text
    assert created["id"] in {k["id"] for k in assert_success(listing)}


async def test_create_defaults_to_a_secret_key_in_the_callers_mode(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    created = assert_success(
        await client.post(keys_url(team), headers=bearer(team.secret_key)), 201
    )
    assert created["type"] == "secret"
    assert created["mode"] == "test"
    assert created["key"].startswith("sk_test_")
    publishable = assert_success(
        await client.post(
            keys_url(team), json={"type": "publishable"}, headers=bearer(team.secret_key)
        ),
        201,
    )
    assert publishable["key"].startswith("pk_test_")


async def test_revoke_marks_the_key_and_lists_it_as_revoked(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    headers = bearer(team.secret_key)
    publishable_id = next(
        k["id"]
        for k in assert_success(await client.get(keys_url(team), headers=headers))
        if k["type"] == "publishable"
    )
    revoked = assert_success(
        await client.delete(f"{keys_url(team)}/{publishable_id}", headers=headers)
    )
    assert revoked["isActive"] is False
    assert revoked["revokedAt"].endswith("Z")
    catalog = await client.get("/api/v1/events", headers=bearer(team.publishable_key))
    assert_error(catalog, 401, "authentication_error", "authentication_required")
    again = await client.delete(f"{keys_url(team)}/{publishable_id}", headers=headers)
    assert_success(again)  # revoking twice is harmless and answers the key


async def test_the_last_secret_key_cannot_be_revoked(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    headers = bearer(team.secret_key)
    secret_id = next(
        k["id"]
        for k in assert_success(await client.get(keys_url(team), headers=headers))
        if k["type"] == "secret"
    )
    response = await client.delete(f"{keys_url(team)}/{secret_id}", headers=headers)
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="keyId")
    assert_success(await client.get(keys_url(team), headers=headers))


async def test_revoking_unknown_or_foreign_keys_is_404(
    client: httpx.AsyncClient, team: CreatedTeam, other_team: CreatedTeam
) -> None:
    theirs = assert_success(
        await client.get(keys_url(other_team), headers=bearer(other_team.secret_key))
    )[0]["id"]
    for key_id in (theirs, "key_doesnotexist0000000", "nope"):
        response = await client.delete(
            f"{keys_url(team)}/{key_id}", headers=bearer(team.secret_key)
        )
        assert_error(response, 404, "not_found_error", "RESOURCE_MISSING", param="keyId")
    still = assert_success(
        await client.get(keys_url(other_team), headers=bearer(other_team.secret_key))
    )
    assert all(k["isActive"] for k in still)
