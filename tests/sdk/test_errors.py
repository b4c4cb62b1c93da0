"""Every typed error, as the real server causes it, through both clients and both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cstar.sdk import (
    AuthenticationError,
    CStarError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from tests.e2e.server import start_server
from tests.sdk.servers import ApiServer
from tests.sdk.support import AnyClient, Flavor, close_client, first_page, make_client
from tests.sdk.support import resolve as r

pytestmark = pytest.mark.e2e

#: The limit's window is an hour, so the test does not straddle the start of a new window.
RATE_LIMIT = 5


def _assert_envelope(error: CStarError, status: int, type_: str, code: str) -> None:
    assert (error.status, error.type, error.code) == (status, type_, code)
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert error.request_id == error.headers["x-request-id"]
    assert error.message
    assert isinstance(error.body, dict)
    assert error.body["success"] is False


async def test_a_bad_key_is_an_authentication_error(flavor: Flavor, api_server: ApiServer) -> None:
    bad = make_client(flavor, **{**api_server.client_kwargs(), "api_key": "sk_test_nope"})
    try:
        with pytest.raises(AuthenticationError) as caught:
            await first_page(bad.webhooks.list())
    finally:
        await close_client(bad)
    _assert_envelope(caught.value, 401, "authentication_error", "authentication_required")
    assert caught.value.doc_url is not None
    assert caught.value.doc_url.endswith("#authentication")


async def test_another_teams_id_is_permission_denied(flavor: Flavor, api_server: ApiServer) -> None:
    other = make_client(
        flavor, **{**api_server.client_kwargs(), "team_id": api_server.other_team_id}
    )
    try:
        with pytest.raises(PermissionDeniedError) as caught:
            await first_page(other.webhooks.list())
    finally:
        await close_client(other)
    _assert_envelope(caught.value, 403, "authorization_error", "insufficient_permissions")


async def test_an_unknown_id_is_not_found(client: AnyClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await r(client.webhooks.get("whk_doesnotexist"))
    _assert_envelope(caught.value, 404, "not_found_error", "RESOURCE_MISSING")
    with pytest.raises(NotFoundError):
        await r(client.deliveries.get("dlv_doesnotexist"))


async def test_an_unknown_event_is_a_validation_error_naming_events(client: AnyClient) -> None:
    with pytest.raises(ValidationError) as caught:
        await r(client.webhooks.create(url="http://127.0.0.1:9/x", events=["ticket.exploded"]))
    _assert_envelope(caught.value, 400, "validation_error", "PARAMETER_INVALID")
    assert caught.value.param == "events"
    assert "ticket.exploded" in caught.value.message
    assert isinstance(caught.value, InvalidRequestError)
    assert "param events" in str(caught.value)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A second server (SQLite) allowing each key five requests an hour."""
    cwd: Path = tmp_path_factory.mktemp("sdk-rate-limited")
    server = start_server(cwd, env={"CSTAR_RATE_LIMIT": f"{RATE_LIMIT}/1h"})
    try:
        boot = server.bootstrap
        assert boot is not None, server.output
        yield ApiServer(
            backend="sqlite",
            base_url=server.base_url,
            team_id=boot.team_id,
            secret_key=boot.secret_key,
            publishable_key=boot.publishable_key,
            other_team_id="",
        )
    finally:
        server.stop()


@pytest.mark.parametrize("flavor", ["sync", "async"])
async def test_too_many_requests_is_a_rate_limit_error(
    flavor: Flavor, limited_server: ApiServer
) -> None:
    # Each flavor uses a key of its own; the publishable key gets a fresh budget too.
    key = limited_server.secret_key if flavor == "sync" else limited_server.publishable_key
    kwargs = {**limited_server.client_kwargs(), "api_key": key}
    client = make_client(flavor, **kwargs, max_retries=0)
    try:
        for _ in range(RATE_LIMIT):
            await r(client.events.catalog(category="tickets"))
        with pytest.raises(RateLimitError) as caught:
            await r(client.events.catalog(category="tickets"))
    finally:
        await close_client(client)
    _assert_envelope(caught.value, 429, "rate_limit_error", "rate_limit_exceeded")
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 3600
    assert caught.value.retry_after == float(caught.value.headers["retry-after"])
