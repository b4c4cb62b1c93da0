"""Retries, timeouts, connection errors and odd answers, against a scripted API on a real local
socket (the real server will not answer 503 or hang on demand)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cstar import __version__
from cstar.sdk import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncCStarClient,
    CStarClient,
    NotFoundError,
    RateLimitError,
    Webhook,
)
from tests.sdk.fake_api import PUBLISHED, TEAM_ID, WEBHOOK, Canned, FakeAPI, envelope
from tests.sdk.support import AnyClient, Flavor, close_client, collect, make_client
from tests.sdk.support import resolve as r


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    with FakeAPI() as api:
        yield api


def _client(flavor: Flavor, base_url: str, **kwargs: Any) -> AnyClient:
    return make_client(flavor, api_key="sk_test_fake", team_id=TEAM_ID, base_url=base_url, **kwargs)


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class CountingTransport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return super().handle_request(request)


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return await super().handle_async_request(request)


async def test_requests_carry_the_key_the_agent_and_the_path(flavor: Flavor, fake: FakeAPI) -> None:
    client = _client(flavor, fake.base_url + "/")
    try:
        await collect(client.webhooks.list(active=True, limit=3))
    finally:
        await close_client(client)
    (seen,) = fake.requests
    assert seen.method == "GET"
    assert seen.path == f"/api/v1/teams/{TEAM_ID}/webhooks?limit=3&active=true"
    assert seen.headers["authorization"] == "Bearer sk_test_fake"
    assert seen.headers["user-agent"] == f"cstar-python/{__version__}"


async def test_a_503_on_a_get_is_retried(flavor: Flavor, fake: FakeAPI) -> None:
    fake.plan(Canned(503, b'{"success": false}'), then=Canned(200, envelope(WEBHOOK)))
    client = _client(flavor, fake.base_url)
    try:
        started = time.monotonic()
        webhook = await r(client.webhooks.get("whk_fake"))
        elapsed = time.monotonic() - started
    finally:
        await close_client(client)
    assert isinstance(webhook, Webhook)
    assert [s.method for s in fake.requests] == ["GET", "GET"]
    assert 0.375 <= elapsed < 3  # backoff: 0.5 s less up to a quarter of jitter


async def test_a_429_is_retried_after_retry_after_even_for_a_post(
    flavor: Flavor, fake: FakeAPI
) -> None:
    fake.plan(
        Canned(429, b'{"success": false}', headers={"Retry-After": "1"}),
        then=Canned(201, envelope({**WEBHOOK, "secret": "whsec_x"})),
    )
    client = _client(flavor, fake.base_url)
    try:
        started = time.monotonic()
        webhook = await r(client.webhooks.create(url="https://example.com/hook", events="*"))
        elapsed = time.monotonic() - started
    finally:
        await close_client(client)
    assert webhook.secret == "whsec_x"
    assert [s.method for s in fake.requests] == ["POST", "POST"]
    assert 1.0 <= elapsed < 4


async def test_retry_after_is_capped(flavor: Flavor, fake: FakeAPI) -> None:
    fake.plan(Canned(429, b"{}", headers={"Retry-After": "3600"}), then=Canned(200, EMPTY))
    client = _client(flavor, fake.base_url, max_retry_after=0.2)
    try:
        started = time.monotonic()
        await r(client.events.catalog())
        elapsed = time.monotonic() - started
    finally:
        await close_client(client)
    assert len(fake.requests) == 2
    assert 0.2 <= elapsed < 2


async def test_a_429_gives_up_after_max_retries(flavor: Flavor, fake: FakeAPI) -> None:
    fake.plan(then=Canned(429, b"{}", headers={"Retry-After": "0"}))
    client = _client(flavor, fake.base_url, max_retries=3)
    try:
        with pytest.raises(RateLimitError) as caught:
            await r(client.events.catalog())
    finally:
        await close_client(client)
    assert len(fake.requests) == 4
    assert caught.value.retry_after == 0


async def test_a_500_on_a_post_that_is_not_retry_safe_is_not_retried(
    flavor: Flavor, fake: FakeAPI
) -> None:
    fake.plan(then=Canned(500, b'{"success": false, "error": {"type": "api_error"}}'))
    client = _client(flavor, fake.base_url, max_retries=2)
    try:
        with pytest.raises(APIError) as caught:
            await r(client.webhooks.create(url="https://example.com/hook", events="*"))
    finally:
        await close_client(client)
    assert [s.method for s in fake.requests] == ["POST"]
    assert caught.value.status == 500


async def test_publish_is_retried_with_the_same_generated_idempotency_key(
    flavor: Flavor, fake: FakeAPI
) -> None:
    fake.plan(Canned(502, b"<html>Bad Gateway</html>", content_type="text/html"))
    fake.plan(then=Canned(202, envelope(PUBLISHED)))
    client = _client(flavor, fake.base_url)
    try:
        published = await r(client.events.publish("ticket.created", {"ticket": {"id": "t"}}))
    finally:
        await close_client(client)
    assert published.id == "evt_fake"
    first, second = (s.json() for s in fake.requests)
    assert first == second
    assert uuid.UUID(first["idempotencyKey"]).version == 4
    assert first["data"] == {"ticket": {"id": "t"}}


async def test_connection_refused_is_retried_then_a_connection_error(flavor: Flavor) -> None:
    base_url = f"http://127.0.0.1:{_free_port()}"
    kwargs: dict[str, Any] = {"api_key": "sk_test_x", "team_id": TEAM_ID, "base_url": base_url}
    if flavor == "sync":
        transport = CountingTransport()
        with httpx.Client(transport=transport) as http:
            client = CStarClient(**kwargs, max_retries=2, http_client=http)
            with pytest.raises(APIConnectionError) as caught:
                # Not retry-safe, yet retried: the request never left.
                client.webhooks.create(url="https://example.com/hook", events="*")
        calls = transport.calls
    else:
        atransport = AsyncCountingTransport()
        async with httpx.AsyncClient(transport=atransport) as ahttp:
            aclient = AsyncCStarClient(**kwargs, max_retries=2, http_client=ahttp)
            with pytest.raises(APIConnectionError) as caught:
                await aclient.webhooks.create(url="https://example.com/hook", events="*")
        calls = atransport.calls
    assert calls == 3
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_slow_answer_is_a_timeout(flavor: Flavor, fake: FakeAPI) -> None:
    fake.plan(then=Canned(200, EMPTY, delay=2.0))
    client = _client(flavor, fake.base_url, timeout=0.25, max_retries=0)
    try:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            await r(client.events.catalog())
        elapsed = time.monotonic() - started
    finally:
        await close_client(client)
    assert isinstance(caught.value, APIConnectionError)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert elapsed < 1.5


async def test_a_read_timeout_on_a_post_that_is_not_retry_safe_is_not_retried(
    flavor: Flavor, fake: FakeAPI
) -> None:
    fake.plan(then=Canned(200, EMPTY, delay=2.0))
    client = _client(flavor, fake.base_url, timeout=0.25, max_retries=2)
    try:
        with pytest.raises(APITimeoutError):
            await r(client.webhooks.test("whk_fake", "ticket.created"))
    finally:
        await close_client(client)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (502, b"<html><h1>Bad Gateway</h1></html>", APIError, "Bad Gateway"),
        (404, b"no such thing", NotFoundError, "no such thing"),
        (200, b"<html>a login page</html>", APIError, "Unexpected answer"),
        (200, b'{"success": true, "data": {"id": 1}}', APIError, "not as expected"),
    ],
)
async def test_answers_that_are_not_the_envelope_are_typed_errors(
    flavor: Flavor,
    fake: FakeAPI,
    status: int,
    body: bytes,
    error: type[Exception],
    text: str,
) -> None:
    fake.plan(then=Canned(status, body, content_type="text/html"))
    client = _client(flavor, fake.base_url, max_retries=0)
    try:
        with pytest.raises(error) as caught:
            await r(client.webhooks.create(url="https://example.com/hook", events="*"))
    finally:
        await close_client(client)
    assert text in str(caught.value)
    assert getattr(caught.value, "status", None) == status
    assert getattr(caught.value, "request_id", None) == "req_fake"


EMPTY = envelope([])
