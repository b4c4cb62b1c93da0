"""Driving the dashboard over HTTP the way a browser does: cookies, forms and their CSRF tokens."""

from __future__ import annotations

import re

import httpx

from cstar.server.services.teams import CreatedTeam

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, key: str, *, next_path: str = "") -> httpx.Response:
    page = await client.get("/dashboard/sign-in", params={"next": next_path} if next_path else None)
    return await client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf_of(page.text), "next": next_path, "secret_key": key},
    )


async def signed_in(client: httpx.AsyncClient, team: CreatedTeam) -> None:
    response = await sign_in(client, team.secret_key)
    assert response.status_code == 303, response.text


async def post_form(
    client: httpx.AsyncClient, page_path: str, action: str, data: dict[str, object]
) -> httpx.Response:
    """Open ``page_path`` and post to ``action`` with that page's CSRF token."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf": csrf_of(page.text), **data})
