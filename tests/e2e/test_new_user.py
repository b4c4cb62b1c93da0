"""Tried as a new user would: ``pip install`` the package without the ``server`` extra into a
fresh virtual environment, then verify real deliveries with ``cstar.webhook`` and drive every
endpoint with the SDK against a server started as the README says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.server import start_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "asyncpg", "pyreqwest", "orjson")


def test_the_sdk_and_verifier_work_from_a_plain_install(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not installed & set(SERVER_ONLY), installed & set(SERVER_ONLY)

    (tmp_path / "server").mkdir()
    server = start_server(tmp_path / "server", args=["--dev"])
    try:
        assert server.bootstrap is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSTAR_")}
        env.update(
            CSTAR_SECRET_KEY=server.bootstrap.secret_key,
            CSTAR_TEAM_ID=server.bootstrap.team_id,
            CSTAR_BASE_URL=server.base_url,
        )
        run = subprocess.run(
            [str(python), str(ROOT / "tests/e2e/scripts/new_user.py")],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["catalog"] == 35
    assert summary["request_id"].startswith("req_")
    # test send, publish, trigger-test, resend, and the publish after the rotation
    assert summary["verified"] == 5
    assert summary["rejected"] == 0
    assert summary["streamed"] >= 3  # the test send, the publish and the trigger-test
    assert summary["streamed_twice"] == 0
    assert summary["keys"] >= 2
