"""Webhook management through both clients against the real server, on both backends."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cstar.sdk import (
    AsyncCStarClient,
    CStarClient,
    Deleted,
    NotFoundError,
    Page,
    ValidationError,
    Webhook,
)
from cstar.webhook import verify_standard_headers
from tests.sdk.servers import ApiServer, ThreadedReceiver
from tests.sdk.support import AnyClient, Flavor, collect, first_page, pages_of, resolve

pytestmark = pytest.mark.e2e


@pytest.fixture
def new_url(receiver: ThreadedReceiver) -> Callable[[], str]:
    """Fresh receiver URLs: deliveries of events other tests publish stay on 127.0.0.1."""
    return lambda: receiver.url(f"/hook-{secrets.token_hex(6)}")


async def test_create_get_update_delete(client: AnyClient, new_url: Callable[[], str]) -> None:
    url = new_url()
    created = await resolve(
        client.webhooks.create(name="Ticket sync", url=url, events=["ticket.created", "ticket.*"])
    )
    assert isinstance(created, Webhook)
    assert created.id.startswith("whk_")
    assert (created.name, created.url, created.is_active) == ("Ticket sync", url, True)
    assert created.events == ("ticket.created", "ticket.*")
    assert created.created_at.tzinfo is not None
    assert created.secret is not None
    assert created.secret.startswith("whsec_")
    assert created.signing_secret == created.secret
    assert created.secret not in repr(created)
    assert created.raw["secret"] == created.secret
    assert created.to_dict()["isActive"] is True

    fetched = await resolve(client.webhooks.get(created.id))
    assert fetched.id == created.id
    assert fetched.secret is None
    assert fetched.signing_secret is None
    assert "secret" not in fetched.to_dict()

    updated = await resolve(
        client.webhooks.update(created.id, name="Renamed", events="customer.created, ticket.*")
    )
    assert (updated.name, updated.url) == ("Renamed", url)
    assert updated.events == ("customer.created", "ticket.*")
    assert updated.secret is None

    paused = await resolve(client.webhooks.update(created.id, is_active=False))
    assert paused.is_active is False
    assert paused.name == "Renamed"
    inactive = await collect(client.webhooks.list(active=False, limit=100))
    assert created.id in {w.id for w in inactive}
    assert all(not w.is_active for w in inactive)

    deleted = await resolve(client.webhooks.delete(created.id))
    assert deleted == Deleted(id=created.id, deleted=True)
    with pytest.raises(NotFoundError):
        await resolve(client.webhooks.get(created.id))


async def test_create_takes_a_comma_string_and_names_the_webhook_after_its_url(
    client: AnyClient, new_url: Callable[[], str]
) -> None:
    url = new_url()
    created = await resolve(client.webhooks.create(url=url, events="ticket.created,ticket.closed"))
    assert created.events == ("ticket.created", "ticket.closed")
    assert created.name == url
    paused = await resolve(client.webhooks.create(url=new_url(), events="*", is_active=False))
    assert paused.is_active is False


async def test_update_sends_only_given_fields_and_none_means_null(
    client: AnyClient, new_url: Callable[[], str]
) -> None:
    created = await resolve(client.webhooks.create(name="keep", url=new_url(), events="*"))
    unchanged = await resolve(client.webhooks.update(created.id, url=created.url))
    assert (unchanged.name, unchanged.events) == ("keep", ("*",))
    with pytest.raises(ValidationError) as caught:
        await resolve(client.webhooks.update(created.id, name=None))  # type: ignore[arg-type]
    assert caught.value.param == "name"


#: signature_scheme, headers, rate_limit, ordering, timeout_seconds.
Controls = tuple[str, dict[str, str], int | None, str, int | None]


def controls(webhook: Webhook) -> Controls:
    """The five delivery controls of a webhook, in one comparable value."""
    return (
        webhook.signature_scheme,
        dict(webhook.headers),
        webhook.rate_limit,
        webhook.ordering,
        webhook.timeout_seconds,
    )


DEFAULT_CONTROLS: Controls = ("cstar", {}, None, "none", None)


async def test_delivery_controls_are_set_read_back_and_changed_one_at_a_time(
    client: AnyClient, new_url: Callable[[], str]
) -> None:
    plain = await resolve(client.webhooks.create(url=new_url(), events="*"))
    assert controls(plain) == DEFAULT_CONTROLS
    assert controls(await resolve(client.webhooks.get(plain.id))) == DEFAULT_CONTROLS

    headers = {"Authorization": "Bearer t0k3n", "X-Tenant": "acme"}
    created = await resolve(
        client.webhooks.create(
            url=new_url(),
            events="*",
            signature_scheme="standard-webhooks",
            headers=headers,
            rate_limit=20,
            ordering="fifo",
            timeout_seconds=5,
        )
    )
    expected = ("standard-webhooks", headers, 20, "fifo", 5)
    assert controls(created) == expected
    assert controls(await resolve(client.webhooks.get(created.id))) == expected
    listed = {w.id: w for w in await collect(client.webhooks.list(limit=100))}
    assert controls(listed[created.id]) == expected
    assert "t0k3n" not in repr(created)

    # Left out: left alone.
    renamed = await resolve(client.webhooks.update(created.id, name="renamed"))
    assert (renamed.name, controls(renamed)) == ("renamed", expected)
    # None clears the rate limit and the timeout; the headers stay.
    cleared = await resolve(
        client.webhooks.update(created.id, rate_limit=None, timeout_seconds=None)
    )
    assert controls(cleared) == ("standard-webhooks", headers, None, "fifo", None)
    # headers replaces the whole set; {} removes them all.
    replaced = await resolve(client.webhooks.update(created.id, headers={"X-Other": "1"}))
    assert dict(replaced.headers) == {"X-Other": "1"}
    back = await resolve(
        client.webhooks.update(
            created.id, headers={}, signature_scheme="cstar", ordering="none", rate_limit=3
        )
    )
    assert controls(back) == ("cstar", {}, 3, "none", None)
    assert controls(await resolve(client.webhooks.get(created.id))) == controls(back)
    for made in (plain, created):
        await resolve(client.webhooks.delete(made.id))


@pytest.mark.parametrize(
    ("given", "param"),
    [
        ({"signature_scheme": "hmac-sha1"}, "signatureScheme"),
        ({"headers": {"X-Signature": "forged"}}, "headers"),
        ({"headers": {"webhook-id": "msg_1"}}, "headers"),
        ({"headers": {"Host": "evil.example"}}, "headers"),
        ({"headers": {f"X-H{n}": "v" for n in range(21)}}, "headers"),
        ({"rate_limit": 0}, "rateLimit"),
        ({"rate_limit": 10_001}, "rateLimit"),
        ({"ordering": "lifo"}, "ordering"),
        ({"timeout_seconds": 31}, "timeoutSeconds"),
    ],
)
async def test_bad_delivery_controls_are_refused_naming_the_field(
    client: AnyClient, new_url: Callable[[], str], given: dict[str, Any], param: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await resolve(client.webhooks.create(url=new_url(), events="*", **given))
    assert refused.value.param == param
    existing = await resolve(client.webhooks.create(url=new_url(), events="*"))
    try:
        with pytest.raises(ValidationError) as refused_again:
            await resolve(client.webhooks.update(existing.id, **given))
        assert refused_again.value.param == param
        assert controls(await resolve(client.webhooks.get(existing.id))) == DEFAULT_CONTROLS
    finally:  # the team may hold 100 webhooks, and the server lives for the whole session
        await resolve(client.webhooks.delete(existing.id))


async def test_a_delivery_carries_the_custom_headers_and_the_chosen_signature(
    client: AnyClient, receiver: ThreadedReceiver, hook_path: str
) -> None:
    webhook = await resolve(
        client.webhooks.create(
            url=receiver.url(hook_path),
            events="ticket.created",
            signature_scheme="standard-webhooks",
            headers={"Authorization": "Bearer t0k3n", "X-Tenant": "acme"},
        )
    )
    assert webhook.secret is not None
    result = await resolve(client.webhooks.test(webhook.id, "ticket.created"))
    assert result.success, result
    (request,) = await receiver.wait_for(1, hook_path)
    assert request.header("authorization") == "Bearer t0k3n"
    assert request.header("x-tenant") == "acme"
    assert "x-signature" not in request.headers
    verify_standard_headers(request.body, request.headers, webhook.secret)


async def test_rotate_secret_returns_a_new_secret_once(
    client: AnyClient, new_url: Callable[[], str]
) -> None:
    created = await resolve(client.webhooks.create(url=new_url(), events="*"))
    rotated = await resolve(client.webhooks.rotate_secret(created.id))
    assert rotated.secret is not None
    assert rotated.secret.startswith("whsec_")
    assert rotated.secret != created.secret
    assert rotated.signing_secret == rotated.secret
    assert rotated.previous_secret_expires_at is None

    graced = await resolve(client.webhooks.rotate_secret(created.id, grace_period_seconds=3600))
    assert graced.previous_secret_expires_at is not None
    expected = datetime.now(UTC) + timedelta(hours=1)
    assert abs(graced.previous_secret_expires_at - expected) < timedelta(minutes=1)
    assert (await resolve(client.webhooks.get(created.id))).secret is None


async def test_list_walks_every_page_lazily(client: AnyClient, new_url: Callable[[], str]) -> None:
    ours = [(await resolve(client.webhooks.create(url=new_url(), events="*"))).id for _ in range(7)]
    everything = [w.id for w in await collect(client.webhooks.list(limit=100))]

    first = await first_page(client.webhooks.list(limit=3))
    assert len(first.data) == 3
    assert first.has_more is True
    assert isinstance(first.next_cursor, str)
    assert first.meta.pagination is not None
    assert first.meta.pagination.limit == 3

    pages = await pages_of(first)
    assert len(pages) >= 3
    assert all(len(p.data) == 3 for p in pages[:-1])
    assert pages[-1].has_more is False
    assert pages[-1].next_cursor is None
    walked = [w.id for w in await collect(first)]
    assert walked == [w.id for p in pages for w in p.data] == everything
    assert len(set(walked)) == len(walked)
    assert set(walked[:7]) == set(ours)  # newest first


async def test_async_list_is_awaitable_and_async_iterable(
    api_server: ApiServer, new_url: Callable[[], str]
) -> None:
    async with AsyncCStarClient(**api_server.client_kwargs()) as cstar:
        await cstar.webhooks.create(url=new_url(), events="*")
        page = await cstar.webhooks.list(limit=1)
        assert len(page.data) == 1
        assert page.has_more is True
        following = await page.next_page()
        assert following is not None
        assert following.data[0].id != page.data[0].id
        direct = [w.id async for w in cstar.webhooks.list(limit=2)]
        walked = [w.id async for w in page]
        assert direct == walked
        assert len(direct) >= 2


@pytest.mark.parametrize("flavor", ["sync", "async"])
async def test_last_meta_is_the_last_responses(
    flavor: Flavor, api_server: ApiServer, new_url: Callable[[], str]
) -> None:
    seen: list[httpx.Response] = []
    kwargs = api_server.client_kwargs()
    if flavor == "sync":
        with (
            httpx.Client(event_hooks={"response": [seen.append]}) as http,
            CStarClient(**kwargs, http_client=http) as cstar,
        ):
            assert cstar.last_meta is None
            cstar.webhooks.create(url=new_url(), events="*")
            meta = cstar.last_meta
            page = cstar.webhooks.list(limit=2)
            listed = cstar.last_meta
            assert isinstance(page, Page)
    else:

        async def hook(response: httpx.Response) -> None:
            seen.append(response)

        async with (
            httpx.AsyncClient(event_hooks={"response": [hook]}) as ahttp,
            AsyncCStarClient(**kwargs, http_client=ahttp) as acstar,
        ):
            assert acstar.last_meta is None
            await acstar.webhooks.create(url=new_url(), events="*")
            meta = acstar.last_meta
            await acstar.webhooks.list(limit=2)
            listed = acstar.last_meta
    assert meta is not None
    assert listed is not None
    assert len(seen) == 2
    assert meta.request_id is not None
    assert meta.request_id.startswith("req_")
    assert meta.request_id == seen[0].headers["x-request-id"]
    assert listed.request_id == seen[1].headers["x-request-id"] != meta.request_id
    assert meta.timestamp is not None
    assert abs(meta.timestamp - datetime.now(UTC)) < timedelta(minutes=1)
    assert meta.pagination is None
    assert listed.pagination is not None
    assert listed.pagination.limit == 2
