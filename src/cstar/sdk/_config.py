"""A client's settings: arguments first, then ``CSTAR_SECRET_KEY``, ``CSTAR_TEAM_ID`` and
``CSTAR_BASE_URL`` from the environment, checked once when the client is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from cstar.sdk._retry import DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER, RetryPolicy
from cstar.sdk.errors import ConfigurationError

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
#: Seconds; ``webhooks.test`` waits for the endpoint (up to the server's 10 s delivery timeout).
DEFAULT_TIMEOUT = 30.0

Timeout = float | httpx.Timeout


@dataclass(frozen=True, slots=True)
class ClientConfig:
    api_key: str = field(repr=False)
    team_id: str
    #: Without a trailing slash, such as ``http://127.0.0.1:8000``.
    base_url: str
    #: Per request; ``None`` leaves it to the HTTP client (the SDK's own uses DEFAULT_TIMEOUT).
    timeout: Timeout | None
    retry: RetryPolicy


def _pick(value: str | None, env: Mapping[str, str], name: str) -> str | None:
    if value is not None:
        return value.strip() or None
    return env.get(name, "").strip() or None


def resolve_config(
    *,
    api_key: str | None,
    team_id: str | None,
    base_url: str | None,
    timeout: Timeout | None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    env: Mapping[str, str] | None = None,
) -> ClientConfig:
    environ = os.environ if env is None else env
    key = _pick(api_key, environ, "CSTAR_SECRET_KEY")
    if key is None:
        raise ConfigurationError(
            "No API key: pass api_key='sk_test_...' or set CSTAR_SECRET_KEY "
            "(`cstar serve` prints one on its first start)"
        )
    team = _pick(team_id, environ, "CSTAR_TEAM_ID")
    if team is None:
        raise ConfigurationError(
            "No team id: pass team_id='...' or set CSTAR_TEAM_ID "
            "(`cstar serve` prints it on its first start)"
        )
    url = _pick(base_url, environ, "CSTAR_BASE_URL") or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"base_url must start with http:// or https://, got {url!r}")
    return ClientConfig(
        api_key=key,
        team_id=team,
        base_url=url.rstrip("/"),
        timeout=timeout,
        retry=RetryPolicy(max_retries=max_retries, max_retry_after=max_retry_after),
    )
