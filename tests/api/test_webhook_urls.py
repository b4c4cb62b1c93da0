"""Webhook URLs over the API: every spelling of a non-public host and every malformed host gets a
400 on create and on PATCH; an accepted URL is stored and shown in its normal form."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from cstar.server.api.app import create_app
from cstar.server.bootstrap import open_container
from cstar.server.config import Settings
from cstar.server.services.teams import CreatedTeam
from tests.helpers import assert_error, assert_success, bearer
from tests.spellings import LOOPBACK_SPELLINGS, MALFORMED_HOSTS, OTHER_PRIVATE_SPELLINGS


def hooks_path(team: CreatedTeam) -> str:
    return f"/api/v1/teams/{team.team.id}/webhooks"


async def create(client: httpx.AsyncClient, team: CreatedTeam, url: str) -> httpx.Response:
    return await client.post(
        hooks_path(team),
        json={"name": "Hook", "url": url, "events": "ticket.created"},
        headers=bearer(team.secret_key),
    )


def refusals(responses: dict[str, httpx.Response]) -> dict[str, Any]:
    """The responses that are not a 400 ``PARAMETER_INVALID`` on ``url``, by family."""
    wrong: dict[str, Any] = {}
    for family, response in responses.items():
        try:
            assert_error(response, 400, "validation_error", "PARAMETER_INVALID", param="url")
        except AssertionError:
            wrong[family] = (response.status_code, response.text)
    return wrong


async def test_every_spelling_of_a_non_public_host_is_refused_on_create_and_patch(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    hosts = {f: h for f, h, _ in LOOPBACK_SPELLINGS + OTHER_PRIVATE_SPELLINGS}
    hosts |= dict(MALFORMED_HOSTS)
    created = assert_success(await create(client, team, "https://example.com/hook"), 201)
    on_create: dict[str, httpx.Response] = {}
    on_patch: dict[str, httpx.Response] = {}
    for family, host in hosts.items():
        url = f"https://{host}:8443/hook"
        on_create[family] = await create(client, team, url)
        on_patch[family] = await client.patch(
            f"{hooks_path(team)}/{created['id']}",
            json={"url": url},
            headers=bearer(team.secret_key),
        )
    assert refusals(on_create) == {}
    assert refusals(on_patch) == {}
    listed = assert_success(await client.get(hooks_path(team), headers=bearer(team.secret_key)))
    assert [hook["url"] for hook in listed] == ["https://example.com/hook"]


async def test_the_refusal_names_the_address_a_spelling_means(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    assert_error(
        await create(client, team, "https://\u2460\u2461\u2466\u30020\u30020\u30021:8443/x"),
        400,
        "validation_error",
        "PARAMETER_INVALID",
        param="url",
        message="url host 127.0.0.1 is a loopback, private or otherwise non-public address; "
        "such targets are accepted only when the server runs --dev",
    )
    assert_error(
        await create(client, team, "https://a..b/hook"),
        400,
        "validation_error",
        "PARAMETER_INVALID",
        param="url",
        message="url host a..b has an empty label (a leading dot or two dots in a row)",
    )


async def test_a_url_is_stored_and_shown_in_its_normal_form(
    client: httpx.AsyncClient, team: CreatedTeam
) -> None:
    headers = bearer(team.secret_key)
    typed = "HTTPS://\uff28\uff2f\uff2f\uff2b\uff33\u3002Example\uff0eCOM:443/In?x=1"
    created = assert_success(await create(client, team, typed), 201)
    assert created["url"] == "https://hooks.example.com/In?x=1"
    path = f"{hooks_path(team)}/{created['id']}"
    assert assert_success(await client.get(path, headers=headers))["url"] == created["url"]

    patched = assert_success(
        await client.patch(path, json={"url": "https://B\u00fccher.example/hook"}, headers=headers)
    )
    assert patched["url"] == "https://xn--bcher-kva.example/hook"
    assert assert_success(await client.get(path, headers=headers))["url"] == patched["url"]
    listed = assert_success(await client.get(hooks_path(team), headers=headers))
    assert [hook["url"] for hook in listed] == ["https://xn--bcher-kva.example/hook"]


async def test_dev_stores_a_private_spelling_normalised_but_refuses_a_malformed_host(
    settings: Settings,
) -> None:
    dev = replace(settings, dev=True)
    node = await open_container(dev, bootstrap=False)
    try:
        team = await node.teams.create_team("Laptop")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(dev, container=node)),
            base_url="http://testserver",
        ) as dev_client:
            typed = "http://\uff11\uff12\uff17\uff0e0\uff0e0\uff0e1:3000/in"
            saved = assert_success(await create(dev_client, team, typed), 201)
            malformed = {
                family: await create(dev_client, team, f"http://{host}:3000/in")
                for family, host in MALFORMED_HOSTS
            }
    finally:
        await node.aclose()
    assert saved["url"] == "http://127.0.0.1:3000/in"
    assert refusals(malformed) == {}
