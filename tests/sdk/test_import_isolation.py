"""The SDK as a user without the server extra has it: only httpx and the standard library."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.sdk.servers import ApiServer

BLOCKED = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "aiohttp",
    "pyreqwest",
    "uvicorn",
    "orjson",
    "cryptography",
    "pydantic",
)

BLOCKER = f"""
import importlib.abc, sys

BLOCKED = {BLOCKED!r}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_blocker_blocks() -> None:
    result = _run("import fastapi")
    assert result.returncode != 0
    assert "blocked" in result.stderr


@pytest.mark.e2e
def test_the_sdk_works_without_the_server_packages(api_server: ApiServer) -> None:
    result = _run(
        f"""
        import cstar.sdk
        from cstar import CStarClient
        with CStarClient(
            api_key={api_server.secret_key!r},
            team_id={api_server.team_id!r},
            base_url={api_server.base_url!r},
        ) as client:
            page = client.webhooks.list(limit=2)
            print(type(page).__name__, len(page.data) <= 2, client.last_meta.request_id[:4])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        assert not [m for m in sys.modules if m.startswith("cstar.server")]
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Page", "True", "req_"]


def test_importing_cstar_loads_neither_the_sdk_nor_httpx() -> None:
    result = _run(
        """
        import cstar
        assert "cstar.sdk" not in sys.modules
        assert "httpx" not in sys.modules
        print(cstar.CStarClient.__module__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cstar.sdk.client"
