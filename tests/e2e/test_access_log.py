"""Keys and secrets a client puts in a URL appear in no server log: ``cstar serve``'s stderr
access log shows each path exactly as the API request log keeps it (query parameter names only,
keys and secrets ``[redacted]``), through the same function."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import start_server
from tests.helpers import bearer

pytestmark = pytest.mark.e2e

ACCESS = re.compile(r'uvicorn\.access: \S+ - "(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" (\d+)')


def test_the_access_log_redacts_what_the_request_log_redacts(tmp_path: Path) -> None:
    running = start_server(tmp_path)
    try:
        boot = running.bootstrap
        assert boot is not None
        base = f"{running.base_url}/api/v1/teams/{boot.team_id}"
        auth = bearer(boot.secret_key)
        secret = "whsec_" + "S3cr3t" * 6
        key_in_path = "sk_live_" + "K" * 32
        with httpx.Client(headers=auth) as http:
            assert http.get(f"{base}/webhooks", params={"api_key": boot.secret_key}).is_success
            listed = http.get(f"{base}/webhooks", params={"cursor": "", "x": secret})
            assert listed.is_success
            assert http.get(f"{base}/webhooks/{secret}").status_code == 404
            assert http.get(f"{base}/webhooks/%2F{key_in_path}").status_code == 404
        # Refused before any team is known: not in the request log, still in the access log.
        assert (
            httpx.get(f"{base}/webhooks", params={"api_key": boot.publishable_key}).status_code
            == 401
        )
        logged = _request_log(base, auth, expected=4)
    finally:
        assert running.stop() == 0
    stderr = "".join(running.stderr_lines)
    for leaked in (boot.secret_key, boot.publishable_key, secret, key_in_path, "S3cr3t"):
        assert leaked not in stderr
    shown = [m["path"] for m in ACCESS.finditer(stderr) if "/webhooks" in m["path"]]
    assert shown[:4] == logged
    assert shown[4] == f"/api/v1/teams/{boot.team_id}/webhooks?api_key"
    assert logged == [
        f"/api/v1/teams/{boot.team_id}/webhooks?api_key",
        f"/api/v1/teams/{boot.team_id}/webhooks?cursor&x",
        f"/api/v1/teams/{boot.team_id}/webhooks/[redacted]",
        f"/api/v1/teams/{boot.team_id}/webhooks//[redacted]",
    ]


def _request_log(base: str, auth: dict[str, str], *, expected: int) -> list[str]:
    """Paths of the webhook requests in the team's request log, oldest first (entries are
    written within about a second)."""
    deadline = time.monotonic() + 15
    while True:
        entries = httpx.get(f"{base}/logs", headers=auth).json()["data"]
        paths = [e["path"] for e in reversed(entries) if "/webhooks" in e["path"]]
        if len(paths) >= expected or time.monotonic() > deadline:
            return paths
        time.sleep(0.1)
