"""Who the client commands talk to, and as whom: flags first, then ``CSTAR_*`` variables, then
what ``cstar login`` stored. The team is the one the server reports for the key
(``GET /api/v1/status``), so a key is all a user has to give."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cstar.cli.credentials import CredentialError, CredentialStore
from cstar.sdk import CStarClient, CStarError
from cstar.sdk._config import DEFAULT_BASE_URL
from cstar.sdk._core import auth_headers, connection_error, error_of

STATUS_PATH = "/api/v1/status"


class CliError(Exception):
    """A failure to report in one line, with a non-zero exit code."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Target:
    api_key: str = field(repr=False)
    base_url: str
    team_id: str | None
    #: Where the key came from: ``--api-key``, ``CSTAR_SECRET_KEY`` or the stored login.
    source: str


def resolve(
    *,
    api_key: str | None,
    base_url: str | None,
    env: Mapping[str, str] | None = None,
    store: CredentialStore | None = None,
) -> Target:
    environ = os.environ if env is None else env
    store = store or CredentialStore()
    flag_key = (api_key or "").strip() or None
    env_key = environ.get("CSTAR_SECRET_KEY", "").strip() or None
    flag_url = (base_url or "").strip() or environ.get("CSTAR_BASE_URL", "").strip() or None
    stored = None
    if (flag_key or env_key) is None or flag_url is None:  # only then is the login needed
        try:
            stored = store.load()
        except CredentialError as exc:
            if (flag_key or env_key) is None:  # a key was given: a broken file is not in the way
                raise CliError(str(exc)) from None
    url = (flag_url or (stored.base_url if stored else "") or DEFAULT_BASE_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--base-url must start with http:// or https://, got {url!r}")
    env_team = environ.get("CSTAR_TEAM_ID", "").strip() or None
    if flag_key:
        return Target(flag_key, url, env_team, "--api-key")
    if env_key:
        return Target(env_key, url, env_team, "CSTAR_SECRET_KEY")
    if stored is not None:
        same_server = not stored.base_url or stored.base_url.rstrip("/") == url
        team = env_team or (stored.team_id if same_server else None)
        return Target(stored.api_key, url, team, "login")
    raise CliError(
        "Not logged in: run `cstar login --api-key sk_...`, or pass --api-key, "
        "or set CSTAR_SECRET_KEY"
    )


def fetch_status(
    api_key: str, base_url: str, *, http: httpx.Client | None = None, timeout: float = 10.0
) -> tuple[dict[str, Any], httpx.Response]:
    """``GET /api/v1/status`` with this key: its team, key, server and rate-limit usage."""
    from cstar.sdk._config import ClientConfig
    from cstar.sdk._retry import RetryPolicy

    config = ClientConfig(api_key, "", base_url, None, RetryPolicy(max_retries=0))
    client = http or httpx.Client(timeout=timeout)
    try:
        response = client.get(f"{base_url}{STATUS_PATH}", headers=auth_headers(config))
    except httpx.RequestError as exc:
        raise describe(connection_error(exc), base_url) from None
    finally:
        if http is None:
            client.close()
    if response.status_code != 200:
        raise describe(error_of(response), base_url)
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("team"), dict):
        raise CliError(f"{base_url} did not answer like a cStar Webhooks server")
    return data, response


def describe(error: CStarError, base_url: str) -> CliError:
    """One line for an SDK error."""
    status = error.status
    if status is None:
        return CliError(f"Cannot reach the server at {base_url}: {error}")
    if status == 401:
        return CliError(f"The API key was refused (401): {error}")
    if status == 403:
        return CliError(f"Not allowed (403): {error}")
    if status == 429:
        return CliError(f"Rate limited (429): {error}")
    request = f" (request {error.request_id})" if error.request_id else ""
    return CliError(f"{error}{request}")


def connect(
    *, api_key: str | None, base_url: str | None, store: CredentialStore | None = None
) -> CStarClient:
    """A client for the resolved key and its team."""
    store = store or CredentialStore()
    target = resolve(api_key=api_key, base_url=base_url, store=store)
    team_id = target.team_id
    if team_id is None:
        data, _ = fetch_status(target.api_key, target.base_url)
        team_id = str(data["team"]["id"])
        if target.source == "login":
            store.remember_team(team_id)
    return CStarClient(api_key=target.api_key, team_id=team_id, base_url=target.base_url)
