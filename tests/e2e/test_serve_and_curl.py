"""As a new user: start ``cstar serve``, take the printed team id and key, and run seed 002's curl
examples verbatim (with the placeholders filled in). On the SQLite default and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import RunningServer, run_cstar, start_server

pytestmark = pytest.mark.e2e

# Seed 002's examples, as documented (host, team, key and ids are substituted).
LIST = """curl -X GET "https://www.cstar.help/api/v1/teams/{teamId}/webhooks" \\
  -H "Authorization: Bearer sk_live_your_key\""""
GET = """curl -X GET "https://www.cstar.help/api/v1/teams/{teamId}/webhooks/{webhookId}" \\
  -H "Authorization: Bearer sk_live_your_key\""""
CREATE = """curl -X POST "https://www.cstar.help/api/v1/teams/{teamId}/webhooks" \\
  -H "Authorization: Bearer sk_live_your_key" \\
  -H "Content-Type: application/json" \\
  -d '{
    "name": "My Webhook",
    "url": "https://example.com/webhook",
    "events": "ticket.created,ticket.closed"
  }'"""
UPDATE = """curl -X PATCH "https://www.cstar.help/api/v1/teams/{teamId}/webhooks/{webhookId}" \\
  -H "Authorization: Bearer sk_live_your_key" \\
  -H "Content-Type: application/json" \\
  -d '{ "events": "ticket.created,ticket.updated,ticket.closed" }'"""
DELETE = """curl -X DELETE "https://www.cstar.help/api/v1/teams/{teamId}/webhooks/{webhookId}" \\
  -H "Authorization: Bearer sk_live_your_key\""""


@pytest.fixture
def server_env(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "sqlite":
        return {}  # the embedded default: a file in the working directory
    url = request.getfixturevalue("database_url")
    return {"CSTAR_DATABASE_URL": url}


@pytest.fixture
def server(tmp_path: Path, server_env: dict[str, str]) -> Iterator[RunningServer]:
    running = start_server(tmp_path, env=server_env)
    try:
        yield running
    finally:
        running.stop()


def curl(example: str, server: RunningServer, key: str, **ids: str) -> tuple[int, dict[str, Any]]:
    command = example.replace("https://www.cstar.help", server.base_url).replace(
        "sk_live_your_key", key
    )
    for name, value in ids.items():
        command = command.replace("{" + name + "}", value)
    result = subprocess.run(
        command + ' -s -w "\\n%{http_code}"',
        shell=True,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


def assert_meta(body: dict[str, Any]) -> None:
    assert body["success"] is True
    assert body["meta"]["requestId"].startswith("req_")
    assert body["meta"]["timestamp"].endswith("Z")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_flow_with_the_seed_curl_examples(server: RunningServer) -> None:
    boot = server.bootstrap
    assert boot is not None, server.output
    assert boot.secret_key.startswith("sk_test_")
    assert boot.publishable_key.startswith("pk_test_")
    ids = {"teamId": boot.team_id}

    status, body = curl(LIST, server, boot.secret_key, **ids)
    assert status == 200
    assert body["data"] == []
    assert_meta(body)

    status, body = curl(CREATE, server, boot.secret_key, **ids)
    assert status == 201, body
    assert_meta(body)
    created = body["data"]
    assert set(created) >= {"id", "name", "url", "events", "secret", "isActive", "createdAt"}
    assert created["id"].startswith("whk_")
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["ticket.created", "ticket.closed"]
    ids["webhookId"] = created["id"]

    status, body = curl(GET, server, boot.secret_key, **ids)
    assert status == 200
    assert "secret" not in body["data"]
    assert set(body["data"]) >= {
        "id",
        "name",
        "url",
        "events",
        "isActive",
        "createdAt",
        "updatedAt",
    }

    status, body = curl(UPDATE, server, boot.secret_key, **ids)
    assert status == 200
    assert body["data"]["events"] == ["ticket.created", "ticket.updated", "ticket.closed"]
    assert "updatedAt" in body["data"]

    status, body = curl(LIST, server, boot.secret_key, **ids)
    assert status == 200
    assert [w["id"] for w in body["data"]] == [created["id"]]
    assert "secret" not in body["data"][0]

    status, body = curl(LIST, server, boot.publishable_key, **ids)
    assert status == 403
    assert body["error"]["message"] == "Secret key required for this endpoint"

    status, body = curl(LIST, server, "sk_live_" + "0" * 32, **ids)
    assert status == 401
    assert body["error"]["type"] == "authentication_error"

    status, body = curl(DELETE, server, boot.secret_key, **ids)
    assert status == 200
    assert body["data"]["deleted"] is True

    status, body = curl(GET, server, boot.secret_key, **ids)
    assert status == 404
    assert body["error"]["code"] == "RESOURCE_MISSING"
    assert body["error"]["message"] == "Webhook not found"

    # Nothing secret reached the server's logs.
    server.stop()
    logs = "".join(server.stderr_lines)
    assert created["secret"] not in logs
    assert boot.secret_key not in logs
    assert "Traceback" not in logs


def test_restart_keeps_data_and_bootstraps_only_once(
    tmp_path: Path, server_env: dict[str, str], backend: str
) -> None:
    first = start_server(tmp_path, env=server_env)
    try:
        assert first.bootstrap is not None
    finally:
        assert first.stop() == 0
    if backend == "sqlite":
        assert (tmp_path / "cstar.db").exists()
    key_file = tmp_path / "cstar-master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = start_server(tmp_path, env=server_env)
    try:
        assert second.bootstrap is None
        assert "First start" not in second.output
        import httpx

        response = httpx.get(
            f"{second.base_url}/api/v1/teams/{first.bootstrap.team_id}/webhooks",
            headers={"Authorization": f"Bearer {first.bootstrap.secret_key}"},
        )
        assert response.status_code == 200
    finally:
        second.stop()


def test_a_different_master_key_refuses_to_start(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    first = start_server(tmp_path, env=server_env)
    first.stop()
    (tmp_path / "cstar-master.key").unlink()
    with pytest.raises(RuntimeError, match="master key does not match"):
        start_server(tmp_path, env=server_env)


def test_admin_create_team_prints_json_and_the_keys_work(
    tmp_path: Path, server_env: dict[str, str], server: RunningServer
) -> None:
    import httpx

    result = run_cstar(
        "admin", "create-team", "--name", "Helpdesk", "--json", cwd=tmp_path, env=server_env
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"teamId", "secretKey", "publishableKey"}
    response = httpx.post(
        f"{server.base_url}/api/v1/teams/{created['teamId']}/webhooks",
        json={"name": "n", "url": "https://example.com/x", "events": ["customer.*"]},
        headers={"Authorization": f"Bearer {created['secretKey']}"},
    )
    assert response.status_code == 201
    listed = run_cstar("admin", "list-teams", "--json", cwd=tmp_path, env=server_env)
    assert created["teamId"] in {t["id"] for t in json.loads(listed.stdout)}


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cstar(
        "serve",
        "--port",
        "0",
        cwd=tmp_path,
        env={"CSTAR_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot open the database")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CSTAR_DATABASE_URL": "mysql://x"}, "CSTAR_DATABASE_URL must start with"),
        ({"CSTAR_RATE_LIMIT": "lots"}, "CSTAR_RATE_LIMIT must look like"),
        ({"CSTAR_MASTER_KEY": "not-a-key"}, "CSTAR_MASTER_KEY must be a Fernet key"),
    ],
)
def test_bad_settings_are_one_clear_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = run_cstar("serve", "--port", "0", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
