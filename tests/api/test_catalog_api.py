"""GET /api/v1/events: the catalog of seed 001's seven categories with samples."""

from __future__ import annotations

import httpx

from cstar import events
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_success, bearer


async def test_catalog_lists_every_event_with_a_sample(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    data = assert_success(await client.get("/api/v1/events", headers=bearer(team.secret_key)))
    assert [e["type"] for e in data] == [e.name for e in events.EVENT_TYPES]
    assert len(data) == 35
    assert {e["categoryTitle"] for e in data} == {
        "Tickets",
        "Customers",
        "Articles",
        "Team",
        "Gamification",
        "Community",
        "Surveys",
    }
    by_type = {e["type"]: e for e in data}
    for name in ("ticket.created", "ticket.updated", "ticket.closed", "customer.created"):
        assert name in by_type
    assert by_type["boss.defeated"]["category"] == "gamification"
    ticket = by_type["ticket.created"]["sample"]["ticket"]
    assert ticket["dashboard_url"].startswith("https://www.cstar.help/team/")
    assert ticket["dashboard_url"].endswith(ticket["id"])


async def test_catalog_filters_by_category_and_accepts_publishable_keys(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    data = assert_success(
        await client.get(
            "/api/v1/events",
            params={"category": "tickets"},
            headers=bearer(team.publishable_key),
        )
    )
    assert [e["type"] for e in data] == [e.name for e in events.event_types_in("tickets")]
    assert all(e["category"] == "tickets" for e in data)
