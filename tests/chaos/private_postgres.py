"""A PostgreSQL server of the test's own, that it may restart at will without disturbing the
server every other test uses: ``initdb`` into a temporary folder, ``pg_ctl`` to start, restart
and stop it (what ``pg_ctlcluster`` runs), as the ``postgres`` system user."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class PrivatePostgres:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str, timeout: float = 60) -> None:
        _as_postgres(
            [str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args], timeout=timeout
        )

    def start(self) -> None:
        self.ctl(
            "start",
            "-l",
            str(self.root / "server.log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
        )

    def restart(self, *, down: float = 0.0) -> None:
        """Stop (fast: every connection is cut), stay down ``down`` seconds, start again."""
        self.ctl("stop", "-m", "fast")
        time.sleep(down)
        self.start()


def _as_postgres(command: list[str], *, timeout: float = 60) -> None:
    # No pipes: the server pg_ctl starts would hold them open, and a reader would wait for ever.
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if os.geteuid() != 0 or not (BIN / "initdb").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("the chaos test needs root and PostgreSQL 15's binaries in CI")
        pytest.skip("needs root (to run PostgreSQL as the postgres user) and PostgreSQL 15")
    root = Path(tempfile.mkdtemp(prefix="cstar-chaos-"))
    shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(root=root, port=_free_port())
    _as_postgres([str(BIN / "initdb"), "-D", str(server.data), "--auth=trust", "-U", "postgres"])
    server.start()
    try:
        yield server
    finally:
        try:
            server.ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)
