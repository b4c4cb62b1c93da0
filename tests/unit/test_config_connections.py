"""The settings that bound connections, streams and whose forwarded headers are believed."""

from __future__ import annotations

import pytest

from cstar.server.config import ConfigError, Settings
from cstar.server.http.options import server_options


def test_defaults_bound_every_read_and_trust_no_proxy() -> None:
    settings = Settings.from_env({})
    assert settings.header_timeout == 10.0
    assert settings.body_timeout == 30.0
    assert settings.max_connections == 1000
    assert (settings.streams_per_key, settings.streams_per_team) == (10, 50)
    assert settings.stream_access_check == 2.0
    assert settings.trusted_proxies == ()
    options = server_options(settings)
    assert options["proxy_headers"] is False


def test_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CSTAR_HEADER_TIMEOUT": "500ms",
            "CSTAR_BODY_TIMEOUT": "5s",
            "CSTAR_MAX_CONNECTIONS": "20",
            "CSTAR_STREAMS_PER_KEY": "3",
            "CSTAR_STREAMS_PER_TEAM": "7",
            "CSTAR_STREAM_ACCESS_CHECK": "1s",
            "CSTAR_TRUSTED_PROXIES": " 10.0.0.0/8 , 127.0.0.1,::1 ,",
        }
    )
    assert (settings.header_timeout, settings.body_timeout) == (0.5, 5.0)
    assert settings.max_connections == 20
    assert (settings.streams_per_key, settings.streams_per_team) == (3, 7)
    assert settings.stream_access_check == 1.0
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1/32", "::1/128")
    options = server_options(settings)
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]


@pytest.mark.parametrize("value", ["*", "proxy.internal", "10.0.0.1/8", "300.1.1.1", "10.0.0.0/33"])
def test_a_trusted_proxy_must_be_an_address_or_a_network(value: str) -> None:
    with pytest.raises(ConfigError, match="CSTAR_TRUSTED_PROXIES"):
        Settings.from_env({"CSTAR_TRUSTED_PROXIES": value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CSTAR_HEADER_TIMEOUT", "0s"),
        ("CSTAR_BODY_TIMEOUT", "soon"),
        ("CSTAR_MAX_CONNECTIONS", "0"),
        ("CSTAR_STREAMS_PER_KEY", "0"),
        ("CSTAR_STREAMS_PER_TEAM", "many"),
        ("CSTAR_STREAM_ACCESS_CHECK", "0ms"),
    ],
)
def test_unusable_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
