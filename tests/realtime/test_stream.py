"""GET /events/stream over real HTTP: live events, filters, resume, heartbeats, errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.helpers import assert_error, bearer
from tests.realtime.conftest import Live
from tests.realtime.support import reading


async def publish(http: httpx.AsyncClient, live: Live, event_type: str, **data: Any) -> str:
    response = await http.post(
        live.api("/events"), headers=live.headers, json={"type": event_type, "data": data}
    )
    assert response.status_code == 202, response.text
    event_id: str = response.json()["data"]["id"]
    return event_id


async def test_published_events_arrive_in_order_as_their_envelopes(
    live: Live, http: httpx.AsyncClient
) -> None:
    async with reading(http, live.stream_url, live.headers) as got:
        ids = [await publish(http, live, "customer.created", n=n) for n in range(5)]
        await got.wait_for(5)
    assert [p["id"] for p in got.payloads()] == ids
    assert got.types == ["customer.created"] * 5
    assert got.ids == sorted(got.ids)
    assert len(set(got.ids)) == 5
    first = got.payloads()[0]
    assert first["team_id"] == live.team.team.id
    assert first["data"] == {"n": 0}
    assert set(first) == {"id", "type", "created_at", "team_id", "data"}


async def test_types_filter_by_names_and_wildcards(live: Live, http: httpx.AsyncClient) -> None:
    params = {"types": "ticket.*,customer.created"}
    async with reading(http, live.stream_url, live.headers, params=params) as got:
        await publish(http, live, "customer.updated")
        await publish(http, live, "ticket.created", ticket={"id": "t1"})
        await publish(http, live, "article.published")
        await publish(http, live, "customer.created")
        await got.wait_for(2)
        await asyncio.sleep(0.2)
    assert got.types == ["ticket.created", "customer.created"]


async def test_test_events_reach_the_stream(live: Live, http: httpx.AsyncClient) -> None:
    async with reading(http, live.stream_url, live.headers) as got:
        response = await http.post(
            live.api("/webhooks/trigger-test"),
            headers=live.headers,
            json={"event": "boss.defeated"},
        )
        assert response.status_code == 200, response.text
        await got.wait_for(1)
    assert got.types == ["boss.defeated"]
    assert got.payloads()[0]["id"] == response.json()["data"]["eventId"]


async def test_single_webhook_test_sends_reach_the_stream(
    live: Live, http: httpx.AsyncClient
) -> None:
    created = await http.post(
        live.api("/webhooks"),
        headers=live.headers,
        json={"name": "x", "url": "http://127.0.0.1:9/hook", "events": ["ticket.created"]},
    )
    webhook_id = created.json()["data"]["id"]
    async with reading(http, live.stream_url, live.headers) as got:
        sent = await http.post(
            live.api(f"/webhooks/{webhook_id}/test"),
            headers=live.headers,
            json={"event": "ticket.created"},
        )
        assert sent.status_code == 200, sent.text
        await got.wait_for(1)
    assert got.types == ["ticket.created"]


async def test_other_teams_events_never_arrive(live: Live, http: httpx.AsyncClient) -> None:
    other = await live.container.teams.create_team("Other Corp")
    async with reading(http, live.stream_url, live.headers) as got:
        response = await http.post(
            f"{live.base_url}/api/v1/teams/{other.team.id}/events",
            headers=bearer(other.secret_key),
            json={"type": "customer.created", "data": {}},
        )
        assert response.status_code == 202
        mine = await publish(http, live, "customer.deleted")
        await got.wait_for(1)
        await asyncio.sleep(0.2)
    assert [p["id"] for p in got.payloads()] == [mine]


async def test_reconnecting_with_last_event_id_replays_what_was_missed_once(
    live: Live, http: httpx.AsyncClient
) -> None:
    async with reading(http, live.stream_url, live.headers) as first:
        before = [await publish(http, live, "customer.created", n=n) for n in range(3)]
        await first.wait_for(3)
    last_seen = first.events[-1].id
    missed = [await publish(http, live, "customer.updated", n=n) for n in range(4)]
    headers = {**live.headers, "Last-Event-ID": last_seen}
    async with reading(http, live.stream_url, headers) as second:
        await second.wait_for(4)
        after = await publish(http, live, "customer.deleted")
        await second.wait_for(5)
        await asyncio.sleep(0.2)
    assert [p["id"] for p in first.payloads()] == before
    assert [p["id"] for p in second.payloads()] == [*missed, after]


async def test_resume_applies_the_filter_to_the_replay(live: Live, http: httpx.AsyncClient) -> None:
    async with reading(http, live.stream_url, live.headers) as first:
        await publish(http, live, "customer.created")
        await first.wait_for(1)
    await publish(http, live, "customer.updated")
    wanted = await publish(http, live, "ticket.created", ticket={"id": "t"})
    headers = {**live.headers, "Last-Event-ID": first.events[0].id}
    async with reading(http, live.stream_url, headers, params={"types": "ticket.*"}) as second:
        await second.wait_for(1)
        await asyncio.sleep(0.2)
    assert [p["id"] for p in second.payloads()] == [wanted]


async def test_idle_streams_send_heartbeats(live: Live, http: httpx.AsyncClient) -> None:
    lines: list[str] = []
    async with http.stream("GET", live.stream_url, headers=live.headers) as response:
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-request-id"].startswith("req_")
        async with asyncio.timeout(5):
            async for line in response.aiter_lines():
                lines.append(line)
                if lines.count(": heartbeat") >= 2:
                    break
    assert lines[:2] == ["retry: 1000", ": connected"]


async def test_a_closed_stream_unsubscribes_at_once(live: Live, http: httpx.AsyncClient) -> None:
    hub = live.container.streams
    async with reading(http, live.stream_url, live.headers):
        assert hub.subscriber_count == 1
    async with asyncio.timeout(2):
        while hub.subscriber_count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_stopping_the_server_ends_open_streams(live: Live, http: httpx.AsyncClient) -> None:
    async with http.stream("GET", live.stream_url, headers=live.headers) as response:
        live.container.streams.end_streams()
        async with asyncio.timeout(3):
            body = (await response.aread()).decode()
    assert body.startswith("retry: 1000")
    # A stream opened while stopping ends at once.
    async with asyncio.timeout(3):
        late = await http.get(live.stream_url, headers=live.headers)
    assert late.status_code == 200


async def test_bad_requests_get_the_error_envelope(live: Live, http: httpx.AsyncClient) -> None:
    bad_types = await http.get(live.stream_url, headers=live.headers, params={"types": "ticket.x"})
    assert_error(bad_types, 400, "validation_error", "PARAMETER_INVALID", param="types")
    wild = await http.get(live.stream_url, headers=live.headers, params={"types": "tick*"})
    assert_error(wild, 400, "validation_error", "PARAMETER_INVALID", param="types")
    for value in ("abc", "-1", "1.5", "9" * 19, "0x10"):
        bad_id = await http.get(live.stream_url, headers={**live.headers, "Last-Event-ID": value})
        assert_error(bad_id, 400, "validation_error", "PARAMETER_INVALID", param="Last-Event-ID")
    anonymous = await http.get(live.stream_url)
    assert anonymous.status_code == 401
    publishable = await http.get(live.stream_url, headers=bearer(live.team.publishable_key))
    assert publishable.status_code == 403
    other = await live.container.teams.create_team("Other Corp")
    foreign = await http.get(live.stream_url, headers=bearer(other.secret_key))
    assert foreign.status_code == 403
    assert live.container.streams.subscriber_count == 0
