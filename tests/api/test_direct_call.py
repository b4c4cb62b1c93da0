"""Routes with a JSON body are called directly once the body validates (``api/routing.py``),
and answer exactly as through FastAPI's own handler, which still takes everything else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastapi.routing
import httpx
import pytest

from cstar.server.api.app import create_app
from cstar.server.api.routing import ApiRoute, DirectCall
from cstar.server.bootstrap import Container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from tests.helpers import bearer


def _never_called() -> None:  # pragma: no cover - only its identity is used
    raise AssertionError


def api_routes(app: fastapi.FastAPI) -> dict[tuple[str, str], ApiRoute]:
    found: dict[tuple[str, str], ApiRoute] = {}

    def walk(router: fastapi.routing.APIRouter) -> None:
        for route in router.routes:
            if isinstance(route, ApiRoute):
                for method in route.methods:
                    found[(method, route.path)] = route
            elif isinstance(route, fastapi.routing._IncludedRouter):
                walk(route.original_router)

    walk(app.router)
    return found


def test_which_routes_are_called_directly(settings: Settings) -> None:
    routes = api_routes(create_app(settings))
    direct = {key for key, route in routes.items() if DirectCall.of(route) is not None}
    teams = "/api/v1/teams/{teamId}"
    assert ("POST", f"{teams}/events") in direct
    assert ("POST", f"{teams}/events/batch") in direct
    assert ("POST", f"{teams}/webhooks") in direct
    assert ("PATCH", f"{teams}/webhooks/{{webhookId}}") in direct
    # Routes without a JSON body, or whose body is optional, always go through FastAPI.
    assert ("GET", f"{teams}/webhooks") not in direct
    assert ("POST", f"{teams}/webhooks/{{webhookId}}/rotate-secret") not in direct


class Solver:
    """Counts the calls of FastAPI's dependency solver."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original: Callable[..., Any] = fastapi.routing.solve_dependencies

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)


async def test_a_valid_publish_skips_the_solver_and_an_invalid_one_uses_it(
    client: httpx.AsyncClient, team: CreatedTeam, monkeypatch: pytest.MonkeyPatch
) -> None:
    solver = Solver(monkeypatch)
    url = f"/api/v1/teams/{team.team.id}/events"
    ok = await client.post(
        url, json={"type": "ticket.created", "data": {}}, headers=bearer(team.secret_key)
    )
    assert ok.status_code == 202
    assert solver.calls == 0
    bad = await client.post(url, json={"type": "ticket.created"}, headers=bearer(team.secret_key))
    assert bad.status_code == 400
    assert solver.calls == 1
    # A query string goes through FastAPI, which refuses repeated parameters.
    repeated = await client.post(
        url + "?a=1&a=2",
        json={"type": "ticket.created", "data": {}},
        headers=bearer(team.secret_key),
    )
    assert repeated.status_code == 400
    assert repeated.json()["error"]["param"] == "a"
    assert solver.calls == 2


def comparable(response: httpx.Response) -> tuple[int, Any, str | None]:
    body = response.json()
    body.pop("meta", None)
    if body.get("success"):
        data = body["data"]
        shape: Any = sorted(data) if isinstance(data, dict) else data
        return response.status_code, shape, response.headers.get("content-type")
    body["error"].pop("request_id", None)
    return response.status_code, body, response.headers.get("content-type")


BODIES: list[Any] = [
    {"type": "ticket.created", "data": {"ticket": {"id": "t1"}}},
    {"type": "ticket.created", "data": {}, "idempotencyKey": "k-1"},
    {"type": "ticket.created", "data": {}, "idempotencyKey": "k-1"},  # a replay
    {"type": "ticket.created"},
    {"type": "no.such.event", "data": {}},
    {"type": "ticket.created", "data": []},
    {"type": "ticket.created", "data": {}, "extra": 1},
    {"type": 5, "data": {}},
    [],
    "text",
    None,
    {"type": "ticket.created", "data": {}, "idempotencyKey": ""},
    {"type": "ticket.created", "data": {}, "idempotencyKey": "x" * 300},
]


@pytest.mark.parametrize("path", ["/events", "/events/batch"])
async def test_direct_and_solved_answers_are_the_same(
    settings: Settings,
    container: Container,
    team: CreatedTeam,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same requests, through an app that calls directly and one whose dependency
    overrides send everything through FastAPI's handler."""
    direct_app = create_app(settings, container=container)
    solved_app = create_app(settings, container=container)
    solved_app.dependency_overrides[_never_called] = _never_called
    answers: list[list[tuple[int, Any, str | None]]] = []
    solver = Solver(monkeypatch)
    solved_calls = []
    for app in (direct_app, solved_app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            seen = []
            for n, body in enumerate(BODIES):
                if path.endswith("batch"):
                    body = {"events": [body]} if n % 2 else {"events": body}
                response = await http.post(
                    f"/api/v1/teams/{team.team.id}{path}",
                    json=body,
                    headers=bearer(team.secret_key),
                )
                seen.append(comparable(response))
            for raw in (b"", b"{", b'{"type": "ticket.created", "data": {}}{}', b"\xff"):
                response = await http.post(
                    f"/api/v1/teams/{team.team.id}{path}",
                    content=raw,
                    headers={**bearer(team.secret_key), "content-type": "application/json"},
                )
                seen.append(comparable(response))
            answers.append(seen)
            solved_calls.append(solver.calls)
    assert answers[0] == answers[1]
    accepted = sum(status == 202 for status, _, _ in answers[0])
    # Through the overridden app, every request with a body reached the solver.
    assert solved_calls[1] - solved_calls[0] >= accepted > 0
    assert {status for status, _, _ in answers[0]} >= {202, 400}
