"""Whose address counts against ``CSTAR_AUTH_FAILURE_LIMIT``: the peer's, unless the peer is a
proxy named in ``CSTAR_TRUSTED_PROXIES``. Against a real ``cstar serve`` over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.server import RunningServer, start_server
from tests.helpers import assert_error, assert_success, bearer

pytestmark = pytest.mark.e2e

BAD_KEY = "sk_test_" + "z" * 32


def serve(cwd: Path, **env: str) -> RunningServer:
    cwd.mkdir()
    return start_server(cwd, env={"CSTAR_AUTH_FAILURE_LIMIT": "3/60s", **env})


def failures(server: RunningServer, forwarded_for: list[str]) -> list[httpx.Response]:
    assert server.bootstrap is not None
    url = f"{server.base_url}/api/v1/teams/{server.bootstrap.team_id}/webhooks"
    with httpx.Client(timeout=10) as http:
        return [
            http.get(url, headers={**bearer(BAD_KEY), "X-Forwarded-For": address})
            for address in forwarded_for
        ]


def test_forwarded_headers_are_ignored_by_default(tmp_path: Path) -> None:
    server = serve(tmp_path / "s")
    try:
        # A new X-Forwarded-For on every attempt does not make a new address.
        answers = failures(server, [f"203.0.113.{n}" for n in range(4)])
        assert [r.status_code for r in answers[:3]] == [401, 401, 401]
        assert_error(answers[3], 429, "rate_limit_error", "rate_limit_exceeded")
    finally:
        assert server.stop() == 0, server.output


def test_a_trusted_proxy_forwards_the_clients_address(tmp_path: Path) -> None:
    server = serve(tmp_path / "s", CSTAR_TRUSTED_PROXIES="10.9.0.0/16, 127.0.0.1")
    try:
        spread = failures(server, [f"203.0.113.{n}" for n in range(4)])
        assert [r.status_code for r in spread] == [401] * 4
        one = failures(server, ["198.51.100.7"] * 4)
        assert [r.status_code for r in one[:3]] == [401, 401, 401]
        assert_error(one[3], 429, "rate_limit_error", "rate_limit_exceeded")
        # That client's failures refuse no valid key, from it or anywhere else.
        assert server.bootstrap is not None
        with httpx.Client(timeout=10) as http:
            valid = http.get(
                f"{server.base_url}/api/v1/teams/{server.bootstrap.team_id}/webhooks",
                headers={**bearer(server.bootstrap.secret_key), "X-Forwarded-For": "198.51.100.7"},
            )
        assert_success(valid)
    finally:
        assert server.stop() == 0, server.output
