"""JSON bodies are read strictly, in one place, for every operation: what the standard library
would accept and then mangle (NaN, 1e999, integers beyond 64 bits, lone surrogates) is a 400
naming the field, and no shape of JSON (deep, wide) gets a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer

JSON = {"Content-Type": "application/json"}


def headers(team: CreatedTeam) -> dict[str, str]:
    return {**bearer(team.secret_key), **JSON}


async def webhook_id(client: httpx.AsyncClient, team: CreatedTeam) -> str:
    created = await client.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        json={"name": "all", "url": "https://example.com/hook", "events": "*"},
        headers=bearer(team.secret_key),
    )
    return str(assert_success(created, 201)["id"])


async def deliveries(client: httpx.AsyncClient, team: CreatedTeam, hook: str) -> list[Any]:
    listed = await client.get(
        f"/api/v1/teams/{team.team.id}/webhooks/{hook}/deliveries", headers=bearer(team.secret_key)
    )
    return list(assert_success(listed))


BAD_DATA = [
    ("an integer above 64 bits", b"18446744073709551616", "outside 64 bits"),
    ("an integer below 64 bits", b"-9223372036854775809", "outside 64 bits"),
    ("an integer of 400 digits", b"7" * 400, "outside 64 bits"),
    ("a lone high surrogate", b'"\\ud800"', "lone surrogate"),
    ("a lone low surrogate in a key", b'{"\\udc00": 1}', "lone surrogate"),
    ("NaN", b"NaN", "NaN or Infinity"),
    ("Infinity", b"Infinity", "NaN or Infinity"),
    ("-Infinity", b"[1, -Infinity]", "NaN or Infinity"),
    ("1e999", b"1e999", "too large for a double"),
    ("-1e999 deep inside", b'{"a": [{"b": -1e999}]}', "too large for a double"),
]


@pytest.mark.parametrize(
    ("value", "reason"), [c[1:] for c in BAD_DATA], ids=[c[0] for c in BAD_DATA]
)
async def test_publish_refuses_what_would_be_delivered_mangled(
    client: httpx.AsyncClient, team: CreatedTeam, value: bytes, reason: str
) -> None:
    hook = await webhook_id(client, team)
    body = b'{"type": "ticket.created", "data": {"n": ' + value + b"}}"
    response = await client.post(
        f"/api/v1/teams/{team.team.id}/events", content=body, headers=headers(team)
    )
    error = assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="data")
    assert reason in error["message"]
    assert await deliveries(client, team, hook) == []


async def test_integers_within_64_bits_and_long_digit_strings_are_delivered_exactly(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await webhook_id(client, team)
    data = {
        "max": 2**64 - 1,
        "min": -(2**63),
        "digits": "123456789012345678901234567890",
        "float": 1.5e300,
        "many": [9007199254740993] * 3,
    }
    published = await client.post(
        f"/api/v1/teams/{team.team.id}/events",
        json={"type": "customer.created", "data": data},
        headers=bearer(team.secret_key),
    )
    assert_success(published, 202)
    (delivery,) = await deliveries(client, team, hook)
    detail = await client.get(
        f"/api/v1/teams/{team.team.id}/deliveries/{delivery['id']}",
        headers=bearer(team.secret_key),
    )
    assert assert_success(detail)["payload"]["data"] == data


def _body_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    }


async def test_every_json_body_of_the_api_is_read_strictly(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await webhook_id(client, team)
    nan = "NaN or Infinity"
    surrogate = "lone surrogate"
    cases = [
        ("POST", "/webhooks", b'{"name": NaN, "url": "https://e.com/h"}', "name", nan),
        ("PATCH", "/webhooks/{webhookId}", b'{"name": "\\ud800"}', "name", surrogate),
        (
            "POST",
            "/webhooks/{webhookId}/rotate-secret",
            b'{"gracePeriodSeconds": 1e999}',
            "gracePeriodSeconds",
            "too large for a double",
        ),
        ("POST", "/webhooks/trigger-test", b'{"event": "\\udfff"}', "event", surrogate),
        ("POST", "/webhooks/{webhookId}/test", b'{"event": Infinity}', "event", nan),
        (
            "POST",
            "/webhooks/{webhookId}/recover",
            b'{"since": 18446744073709551616}',
            "since",
            "outside 64 bits",
        ),
        ("POST", "/keys", b'{"name": "\\ud834"}', "name", surrogate),
        (
            "POST",
            "/events",
            b'{"type": "ticket.created", "data": {}, "idempotencyKey": -Infinity}',
            "idempotencyKey",
            nan,
        ),
        (
            "POST",
            "/events/batch",
            b'{"events": [{"type": "ticket.created", "data": {"n": 1e999}}]}',
            "events[0].data",
            "too large for a double",
        ),
    ]
    spec = (await client.get("/api/v1/openapi.json")).json()
    prefix = "/api/v1/teams/{teamId}"
    assert {(c[0], prefix + c[1]) for c in cases} == _body_operations(spec)
    for method, path, body, param, words in cases:
        url = f"/api/v1/teams/{team.team.id}{path.replace('{webhookId}', hook)}"
        response = await client.request(method, url, content=body, headers=headers(team))
        error = assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param=param)
        assert words in error["message"], (method, path)
    assert len(await deliveries(client, team, hook)) == 0


async def test_a_body_bad_as_a_whole_names_the_body(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    url = f"/api/v1/teams/{team.team.id}/webhooks"
    for body, words in (
        (b"NaN", "NaN or Infinity"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 1024 levels"),
        (b'{"name": "a", "url": "https://e.com/h",', "not valid JSON"),
        (b'{"name": "\xff"}', "not valid UTF-8"),
    ):
        response = await client.post(url, content=body, headers=headers(team))
        error = assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="body")
        assert words in error["message"]


async def test_deep_data_is_refused_where_it_could_not_be_stored_or_read_back(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await webhook_id(client, team)
    url = f"/api/v1/teams/{team.team.id}/events"

    def nested(levels: int) -> bytes:  # ``data`` itself is the first level
        inner = b"[" * (levels - 1) + b"1" + b"]" * (levels - 1)
        return b'{"type": "ticket.created", "data": {"x": ' + inner + b"}}"

    for levels, words in ((100_000, "more than 1024 levels"), (254, "more than 253 levels")):
        response = await client.post(url, content=nested(levels), headers=headers(team))
        error = assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="data")
        assert words in error["message"]
    assert_success(await client.post(url, content=nested(253), headers=headers(team)), 202)
    (delivery,) = await deliveries(client, team, hook)
    detail = await client.get(
        f"/api/v1/teams/{team.team.id}/deliveries/{delivery['id']}",
        headers=bearer(team.secret_key),
    )
    payload = assert_success(detail)["payload"]
    depth, value = 1, payload["data"]["x"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert (depth, value) == (253, 1)


async def test_wide_bodies_are_answered_not_choked_on(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await webhook_id(client, team)
    url = f"/api/v1/teams/{team.team.id}/events"
    many = ", ".join(f'"k{i}": {i}' for i in range(15_000)).encode()
    wide_data = b'{"type": "ticket.created", "data": {' + many + b"}}"
    assert_success(await client.post(url, content=wide_data, headers=headers(team)), 202)
    unknown = b'{"type": "ticket.created", "data": {}, ' + many + b"}"
    response = await client.post(url, content=unknown, headers=headers(team))
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="k0")
    assert len(await deliveries(client, team, hook)) == 1
