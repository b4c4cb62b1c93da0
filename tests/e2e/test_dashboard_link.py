"""``cstar admin dashboard-link``: an operator's one-time sign-in URL, against a running server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import run_cstar, start_server

pytestmark = pytest.mark.e2e


def test_a_printed_link_signs_in_once(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        assert server.bootstrap is not None
        env = {"CSTAR_DATABASE_URL": f"sqlite:///{tmp_path / 'cstar.db'}"}
        printed = run_cstar(
            "admin",
            "dashboard-link",
            "--team",
            server.bootstrap.team_id,
            "--base-url",
            server.base_url,
            "--json",
            cwd=tmp_path,
            env=env,
        )
        assert printed.returncode == 0, printed.stderr
        link = json.loads(printed.stdout)
        assert link["expiresInSeconds"] == 900
        assert link["url"].startswith(f"{server.base_url}/dashboard/sign-in/link/")
        with httpx.Client() as browser:
            opened = browser.get(link["url"])
            assert opened.status_code == 303
            assert opened.headers["location"] == "/dashboard/settings/integrations/webhooks"
            home = browser.get(f"{server.base_url}{opened.headers['location']}")
            assert home.status_code == 200
            assert "Sign out" in home.text
        again = httpx.get(link["url"])
        assert again.status_code == 401
        text = run_cstar(
            "admin", "dashboard-link", "--team", server.bootstrap.team_id, cwd=tmp_path, env=env
        )
        assert "works once, for 15 minutes" in text.stdout
        unknown = run_cstar(
            "admin", "dashboard-link", "--team", "no-such-team", cwd=tmp_path, env=env
        )
        assert unknown.returncode == 1
        assert unknown.stderr.strip() == "error: no team with id no-such-team"
    finally:
        assert server.stop() == 0
