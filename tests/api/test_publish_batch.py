"""POST /api/v1/teams/{teamId}/events/batch: up to 100 events in one transaction, all or
nothing, one result per event in order; a bad item is a 400 whose ``param`` names it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer


def path(team: CreatedTeam, suffix: str = "/batch") -> str:
    return f"/api/v1/teams/{team.team.id}/events{suffix}"


async def subscribe(client: httpx.AsyncClient, team: CreatedTeam, events: str) -> str:
    created = await client.post(
        f"/api/v1/teams/{team.team.id}/webhooks",
        json={"name": events, "url": "https://example.com/hook", "events": events},
        headers=bearer(team.secret_key),
    )
    return str(assert_success(created, 201)["id"])


async def stored_events(client: httpx.AsyncClient, team: CreatedTeam, hook: str) -> list[Any]:
    listed = await client.get(
        f"/api/v1/teams/{team.team.id}/webhooks/{hook}/deliveries?limit=100",
        headers=bearer(team.secret_key),
    )
    return list(assert_success(listed))


async def test_a_batch_is_stored_with_its_fan_out_and_answered_in_order(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    tickets = await subscribe(client, team, "ticket.*")
    everything = await subscribe(client, team, "*")
    events = [
        {"type": "ticket.created", "data": {"ticket": {"id": "t1"}}},
        {"type": "customer.created", "data": {"customer": {"id": "c1"}}},
        {"type": "ticket.updated", "data": {"ticket": {"id": "t1"}}},
    ]
    response = await client.post(
        path(team), json={"events": events}, headers=bearer(team.secret_key)
    )
    results = assert_success(response, 202)["events"]
    assert [r["type"] for r in results] == [e["type"] for e in events]
    assert [r["deliveriesQueued"] for r in results] == [2, 1, 2]
    assert [r["replayed"] for r in results] == [False, False, False]
    assert len({r["id"] for r in results}) == 3
    assert len(await stored_events(client, team, tickets)) == 2
    assert len(await stored_events(client, team, everything)) == 3


@pytest.mark.parametrize(
    ("item", "param", "code"),
    [
        ({"type": "ticket.nope", "data": {}}, "events[2].type", "PARAMETER_INVALID"),
        ({"data": {}}, "events[2].type", "PARAMETER_MISSING"),
        ({"type": "ticket.created"}, "events[2].data", "PARAMETER_MISSING"),
        ({"type": "ticket.created", "data": [1]}, "events[2].data", "PARAMETER_INVALID"),
        (
            {"type": "ticket.created", "data": {}, "idempotencyKey": ""},
            "events[2].idempotencyKey",
            "PARAMETER_INVALID",
        ),
        (
            {"type": "ticket.created", "data": {}, "idempotencyKey": "a\x00b"},
            "events[2].idempotencyKey",
            "PARAMETER_INVALID",
        ),
        ({"type": "ticket.created", "data": {}, "extra": 1}, "events[2].extra", None),
    ],
)
async def test_one_bad_item_refuses_the_whole_batch_naming_it(
    client: httpx.AsyncClient, team: CreatedTeam, item: dict[str, Any], param: str, code: str | None
) -> None:
    hook = await subscribe(client, team, "*")
    good = {"type": "ticket.created", "data": {"ticket": {"id": "t"}}}
    response = await client.post(
        path(team), json={"events": [good, good, item, good]}, headers=bearer(team.secret_key)
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    assert await stored_events(client, team, hook) == []


@pytest.mark.parametrize("count", [0, 101])
async def test_a_batch_holds_1_to_100_events(
    client: httpx.AsyncClient, team: CreatedTeam, count: int
) -> None:
    events = [{"type": "ticket.created", "data": {}}] * count
    response = await client.post(
        path(team), json={"events": events}, headers=bearer(team.secret_key)
    )
    assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="events")


async def test_a_batch_of_100_is_accepted(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    events = [{"type": "ticket.created", "data": {"n": i}} for i in range(100)]
    response = await client.post(
        path(team), json={"events": events}, headers=bearer(team.secret_key)
    )
    assert len(assert_success(response, 202)["events"]) == 100


async def test_keys_replay_across_batches_and_within_one(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hook = await subscribe(client, team, "*")
    single = await client.post(
        path(team, ""),
        json={"type": "ticket.created", "data": {}, "idempotencyKey": "k-single"},
        headers=bearer(team.secret_key),
    )
    first = assert_success(single, 202)
    events = [
        {"type": "ticket.created", "data": {}, "idempotencyKey": "k-single"},
        {"type": "ticket.created", "data": {}, "idempotencyKey": "k-new"},
        {"type": "ticket.created", "data": {}, "idempotencyKey": "k-new"},
        {"type": "ticket.created", "data": {}},
    ]
    response = await client.post(
        path(team), json={"events": events}, headers=bearer(team.secret_key)
    )
    results = assert_success(response, 202)["events"]
    assert results[0]["id"] == first["id"]
    assert [r["replayed"] for r in results] == [True, False, True, False]
    assert results[2]["id"] == results[1]["id"]
    assert [r["deliveriesQueued"] for r in results] == [1, 1, 1, 1]
    again = await client.post(
        path(team), json={"events": events[1:3]}, headers=bearer(team.secret_key)
    )
    assert [r["replayed"] for r in assert_success(again, 202)["events"]] == [True, True]
    assert len(await stored_events(client, team, hook)) == 3  # single, k-new, the unkeyed one


async def test_a_publishable_key_cannot_publish_a_batch(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    response = await client.post(
        path(team),
        json={"events": [{"type": "ticket.created", "data": {}}]},
        headers=bearer(team.publishable_key),
    )
    assert response.status_code == 403
