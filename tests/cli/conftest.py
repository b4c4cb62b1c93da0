"""The CLI as a user runs it: ``cstar`` subprocesses against a real ``cstar serve --dev``, each
test with its own config directory and keychain."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.server import CSTAR, RunningServer, start_server

FAIL_KEYRING = "keyring.backends.fail.Keyring"
FILE_KEYRING = "keyrings.alt.file.PlaintextKeyring"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("cli-server"),
        env={"CSTAR_RATE_LIMIT": "100000/60s", "CSTAR_STREAM_HEARTBEAT": "1s"},
        args=["--dev"],
    )
    assert running.bootstrap is not None
    yield running
    running.stop()
    assert "Traceback" not in running.output


@dataclass
class Cli:
    """Runs ``cstar`` with a private HOME, config directory and keychain."""

    home: Path
    server: RunningServer
    keyring_backend: str = FAIL_KEYRING
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        assert self.server.bootstrap is not None
        return self.server.bootstrap.secret_key

    @property
    def team_id(self) -> str:
        assert self.server.bootstrap is not None
        return self.server.bootstrap.team_id

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CSTAR_", "NO_COLOR"))}
        env.update(
            HOME=str(self.home),
            XDG_DATA_HOME=str(self.home / "data"),
            XDG_CONFIG_HOME=str(self.home / "xdg"),
            CSTAR_CONFIG_DIR=str(self.config_dir),
            PYTHON_KEYRING_BACKEND=self.keyring_backend,
            COLUMNS="200",
        )
        env.update(self.extra_env)
        return env

    def __call__(
        self, *args: str, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        full = self.env()
        full.update(env)
        return subprocess.run(
            [CSTAR, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full,
            cwd=self.home,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [CSTAR, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.home,
        )

    def flags(self) -> list[str]:
        """Explicit credentials, for tests that are not about login."""
        return ["--api-key", self.key, "--base-url", self.server.base_url]


@pytest.fixture
def cli(tmp_path: Path, server: RunningServer) -> Cli:
    return Cli(home=tmp_path, server=server)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """A failure is one line on stderr, a non-zero exit, and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error:"), lines
    return lines[0]
