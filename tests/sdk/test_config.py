"""Building a client: the environment's defaults, the clear error without a key or team, who
closes the HTTP client, and ``from cstar import CStarClient``."""

from __future__ import annotations

import httpx
import pytest

import cstar
from cstar import sdk
from cstar.sdk import AsyncCStarClient, ConfigurationError, CStarClient
from tests.sdk.servers import ApiServer
from tests.sdk.support import Flavor, close_client, collect, make_client


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CSTAR_SECRET_KEY", "CSTAR_TEAM_ID", "CSTAR_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.e2e
async def test_the_environment_supplies_key_team_and_base_url(
    flavor: Flavor, api_server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSTAR_SECRET_KEY", api_server.secret_key)
    monkeypatch.setenv("CSTAR_TEAM_ID", api_server.team_id)
    monkeypatch.setenv("CSTAR_BASE_URL", api_server.base_url)
    client = make_client(flavor)
    try:
        assert (client.api_key, client.team_id, client.base_url) == (
            api_server.secret_key,
            api_server.team_id,
            api_server.base_url,
        )
        assert isinstance(await collect(client.webhooks.list(limit=1)), list)
    finally:
        await close_client(client)


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTAR_SECRET_KEY", "sk_test_env")
    monkeypatch.setenv("CSTAR_TEAM_ID", "team-env")
    with CStarClient(api_key="sk_test_arg", team_id="team-arg") as client:
        assert (client.api_key, client.team_id) == ("sk_test_arg", "team-arg")
        assert client.base_url == "http://127.0.0.1:8000"
        assert client.max_retries == 2
        assert "sk_test_arg" not in repr(client)


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_no_key_or_no_team_is_a_clear_error_at_construction(
    flavor: Flavor, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="CSTAR_SECRET_KEY"):
        make_client(flavor, team_id="team")
    with pytest.raises(ConfigurationError, match="CSTAR_TEAM_ID"):
        make_client(flavor, api_key="sk_test_x")
    monkeypatch.setenv("CSTAR_SECRET_KEY", "  ")
    with pytest.raises(ConfigurationError, match="No API key"):
        make_client(flavor, team_id="team")
    with pytest.raises(ConfigurationError, match="base_url"):
        make_client(flavor, api_key="k", team_id="t", base_url="127.0.0.1:8000")
    with pytest.raises(ValueError, match="max_retries"):
        make_client(flavor, api_key="k", team_id="t", max_retries=-1)


def test_the_sync_client_closes_only_its_own_http_client() -> None:
    with CStarClient(api_key="k", team_id="t") as own:
        assert not own.http_client.is_closed
    assert own.http_client.is_closed
    with httpx.Client() as http:
        with CStarClient(api_key="k", team_id="t", http_client=http) as lent:
            assert lent.http_client is http
        assert not http.is_closed


async def test_the_async_client_closes_only_its_own_http_client() -> None:
    async with AsyncCStarClient(api_key="k", team_id="t") as own:
        assert not own.http_client.is_closed
    assert own.http_client.is_closed
    again = AsyncCStarClient(api_key="k", team_id="t")
    await again.aclose()
    assert again.http_client.is_closed
    async with httpx.AsyncClient() as http:
        async with AsyncCStarClient(api_key="k", team_id="t", http_client=http) as lent:
            assert lent.http_client is http
        assert not http.is_closed


def test_the_clients_are_importable_from_cstar() -> None:
    from cstar import AsyncCStarClient as Lazy
    from cstar import CStarClient as LazySync

    assert LazySync is sdk.CStarClient
    assert Lazy is sdk.AsyncCStarClient
    with pytest.raises(AttributeError):
        _ = cstar.NoSuchThing
