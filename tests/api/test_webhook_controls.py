"""The per-endpoint delivery controls through the API (issue 13): signatureScheme, headers,
rateLimit, ordering and timeoutSeconds, on create, PATCH and GET, and every refusal, on SQLite
and PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import sqlalchemy as sa

from cstar.server.bootstrap import Container
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.schema import webhooks
from tests.api.test_webhooks_api import base, create
from tests.helpers import assert_error, assert_success, bearer


async def _patch(
    client: httpx.AsyncClient, team: CreatedTeam, webhook_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(
        f"{base(team)}/{webhook_id}", json=body, headers=bearer(team.secret_key)
    )


async def test_defaults_are_todays_behaviour(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    data = await create(client, team)
    assert data["signatureScheme"] == "cstar"
    assert data["headers"] == {}
    assert data["rateLimit"] is None
    assert data["ordering"] == "none"
    assert data["timeoutSeconds"] is None


async def test_create_sets_every_control_and_get_shows_them(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    data = await create(
        client,
        team,
        signatureScheme="standard-webhooks",
        headers={"Authorization": "Bearer abc", "X-Tenant": "acme"},
        rateLimit=5,
        ordering="fifo",
        timeoutSeconds=3,
    )
    # A Standard Webhooks secret: whsec_ and base64 of 32 random bytes.
    assert data["secret"].startswith("whsec_")
    assert len(base64.b64decode(data["secret"][6:], validate=True)) == 32
    got = assert_success(
        await client.get(f"{base(team)}/{data['id']}", headers=bearer(team.secret_key))
    )
    for shown in (data, got):
        assert shown["signatureScheme"] == "standard-webhooks"
        assert shown["headers"] == {"Authorization": "Bearer abc", "X-Tenant": "acme"}
        assert shown["rateLimit"] == 5
        assert shown["ordering"] == "fifo"
        assert shown["timeoutSeconds"] == 3
    listed = assert_success(await client.get(base(team), headers=bearer(team.secret_key)))
    assert listed[0]["headers"] == {"Authorization": "Bearer abc", "X-Tenant": "acme"}


async def test_header_values_are_stored_encrypted(
    client: httpx.AsyncClient, team: CreatedTeam, container: Container
) -> None:
    data = await create(client, team, headers={"Authorization": "Bearer s3cr3t-token"})
    stored = await container.database.read(
        lambda conn: conn.scalar(
            sa.select(webhooks.c.headers_ciphertext).where(webhooks.c.id == data["id"])
        )
    )
    assert stored
    assert "s3cr3t" not in stored
    assert "Authorization" not in stored


async def test_patch_changes_only_what_is_sent_and_null_clears(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await create(client, team, rateLimit=10, timeoutSeconds=5, headers={"X-A": "1"})
    same = assert_success(await _patch(client, team, hook["id"], {"name": "Renamed"}))
    assert (same["rateLimit"], same["timeoutSeconds"], same["headers"]) == (10, 5, {"X-A": "1"})

    changed = assert_success(
        await _patch(
            client,
            team,
            hook["id"],
            {"rateLimit": None, "timeoutSeconds": None, "headers": {"X-B": "2"}},
        )
    )
    assert changed["rateLimit"] is None
    assert changed["timeoutSeconds"] is None
    assert changed["headers"] == {"X-B": "2"}

    cleared = assert_success(await _patch(client, team, hook["id"], {"headers": {}}))
    assert cleared["headers"] == {}
    again = assert_success(
        await _patch(client, team, hook["id"], {"headers": {"X-C": "3"}, "ordering": "fifo"})
    )
    assert again["ordering"] == "fifo"
    assert (
        assert_success(await _patch(client, team, hook["id"], {"headers": None}))["headers"] == {}
    )


async def test_switching_scheme_keeps_the_secret_and_rotation_follows_the_scheme(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await create(client, team)
    switched = assert_success(
        await _patch(client, team, hook["id"], {"signatureScheme": "standard-webhooks"})
    )
    assert switched["signatureScheme"] == "standard-webhooks"
    # The base62 secret is valid base64 too (30 bytes), so it keeps signing.
    assert len(base64.b64decode(hook["secret"][6:], validate=True)) == 30
    rotated = assert_success(
        await client.post(
            f"{base(team)}/{hook['id']}/rotate-secret", headers=bearer(team.secret_key)
        )
    )
    assert len(base64.b64decode(rotated["secret"][6:], validate=True)) == 32


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"signatureScheme": "hmac"}, "signatureScheme"),
    ({"signatureScheme": "CSTAR"}, "signatureScheme"),
    ({"signatureScheme": 1}, "signatureScheme"),
    ({"ordering": "lifo"}, "ordering"),
    ({"ordering": None}, "ordering"),
    ({"signatureScheme": None}, "signatureScheme"),
    ({"rateLimit": 0}, "rateLimit"),
    ({"rateLimit": -1}, "rateLimit"),
    ({"rateLimit": 10_001}, "rateLimit"),
    ({"rateLimit": 1.5}, "rateLimit"),
    ({"rateLimit": "5"}, "rateLimit"),
    ({"rateLimit": True}, "rateLimit"),
    ({"timeoutSeconds": 0}, "timeoutSeconds"),
    ({"timeoutSeconds": 31}, "timeoutSeconds"),
    ({"timeoutSeconds": 10**30}, "timeoutSeconds"),
    ({"headers": []}, "headers"),
    ({"headers": "X-A: 1"}, "headers"),
    ({"headers": {"X-A": 1}}, "headers"),
    ({"headers": {f"X-H{i}": "v" for i in range(21)}}, "headers"),
    ({"headers": {"": "v"}}, "headers"),
    ({"headers": {"Bad Name": "v"}}, "headers"),
    ({"headers": {"X-A:": "v"}}, "headers"),
    ({"headers": {"X-" + "a" * 100: "v"}}, "headers"),
    ({"headers": {"X-A": "line\r\nInjected: yes"}}, "headers"),
    ({"headers": {"X-A": "nul\x00"}}, "headers"),
    ({"headers": {"X-A": "caf\u00e9"}}, "headers"),
    ({"headers": {"X-A": "v" * 4097}}, "headers"),
    ({"headers": {"X-A": "1", "x-a": "2"}}, "headers"),
]

RESERVED = [
    "X-Signature",
    "x-signature",
    "webhook-id",
    "Webhook-Signature",
    "webhook-timestamp",
    "webhook-anything",
    "X-Event-Type",
    "X-Event-ID",
    "x-event-custom",
    "X-Webhook-ID",
    "X-Timestamp",
    "X-Delivery-Attempt",
    "x-cstar-request-id",
    "X-CSTAR-Anything",
    "User-Agent",
    "Content-Type",
    "Content-Length",
    "Host",
    "Connection",
    "Keep-Alive",
    "Transfer-Encoding",
    "TE",
    "Trailer",
    "Upgrade",
    "Proxy-Authorization",
    "Proxy-Connection",
]


async def test_invalid_values_are_a_400_naming_the_field(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    """Every case of ``INVALID``, on PATCH and on create (one test per database, not one per
    case: each case costs a request, a test costs a fresh database)."""
    hook = await create(client, team)
    for body, param in INVALID:
        patched = await _patch(client, team, hook["id"], body)
        assert patched.status_code == 400, (body, patched.text)
        assert_error(patched, 400, "validation_error", "PARAMETER_INVALID", param=param)
        if body.get("ordering", "") is None or body.get("signatureScheme", "") is None:
            continue  # null means "the default" on create
        created = await client.post(
            base(team),
            json={"name": "n", "url": "https://example.com/h", "events": "*", **body},
            headers=bearer(team.secret_key),
        )
        assert created.status_code == 400, (body, created.text)
        assert_error(created, 400, "validation_error", "PARAMETER_INVALID", param=param)
    unchanged = assert_success(
        await client.get(f"{base(team)}/{hook['id']}", headers=bearer(team.secret_key))
    )
    assert unchanged == {k: v for k, v in hook.items() if k != "secret"}


async def test_reserved_header_names_are_refused(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    for name in RESERVED:
        response = await client.post(
            base(team),
            json={
                "name": "n",
                "url": "https://example.com/h",
                "events": "*",
                "headers": {name: "x"},
            },
            headers=bearer(team.secret_key),
        )
        error = assert_error(
            response, 400, "validation_error", "PARAMETER_INVALID", param="headers"
        )
        assert name in error["message"], name
    listed = assert_success(await client.get(base(team), headers=bearer(team.secret_key)))
    assert listed == []


async def test_timeout_and_rate_limit_bounds_are_accepted(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    low = await create(client, team, timeoutSeconds=1, rateLimit=1)
    high = await create(client, team, timeoutSeconds=30, rateLimit=10_000)
    assert (low["timeoutSeconds"], low["rateLimit"]) == (1, 1)
    assert (high["timeoutSeconds"], high["rateLimit"]) == (30, 10_000)
