"""The SQLite database holds every team's data: like the master key file, it and the ``-wal``
and ``-shm`` files SQLite keeps beside it are readable by their owner only, whatever the umask,
when ``cstar serve`` creates them."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import start_server
from tests.helpers import bearer

pytestmark = pytest.mark.e2e


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_creates_the_database_files_private_under_umask_022(tmp_path: Path) -> None:
    running = start_server(tmp_path, umask=0o022)
    try:
        boot = running.bootstrap
        assert boot is not None
        created = httpx.post(
            f"{running.base_url}/api/v1/teams/{boot.team_id}/webhooks",
            json={"name": "n", "url": "https://example.com/h", "events": "*"},
            headers=bearer(boot.secret_key),
        )
        assert created.status_code == 201, created.text
        files = {name: tmp_path / name for name in ("cstar.db", "cstar.db-wal", "cstar.db-shm")}
        assert all(path.exists() for path in files.values()), sorted(tmp_path.iterdir())
        assert {name: oct(mode(path)) for name, path in files.items()} == dict.fromkeys(
            files, "0o600"
        )
        assert mode(tmp_path / "cstar-master.key") == 0o600
    finally:
        assert running.stop() == 0


def test_a_database_file_others_can_read_is_reported_not_changed(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    database.touch()
    database.chmod(0o644)
    running = start_server(tmp_path, env={"CSTAR_DATABASE_URL": f"sqlite:///{database}"})
    try:
        assert running.bootstrap is not None
    finally:
        assert running.stop() == 0
    assert mode(database) == 0o644  # an operator's choice is kept...
    assert f"database file {database} is readable by others (mode 644)" in running.output
