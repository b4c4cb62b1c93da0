"""The server commands' error paths, run as a user runs them, against the typer and click
releases this install resolved: each failure is one line on stderr and a non-zero exit code,
never a traceback."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.server import CSTAR, run_cstar

pytestmark = pytest.mark.e2e


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", ["serve", "serve --dev"])
def test_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path, command: str) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_cstar(*command.split(), "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert f"port {port} is already in use on 127.0.0.1" in line
    assert "--port" in line
    # Nothing was started: no database file, no master key.
    assert list(tmp_path.iterdir()) == []


def test_a_host_that_cannot_be_listened_on_is_one_line(tmp_path: Path) -> None:
    result = run_cstar("serve", "--host", "no-such-host.invalid", "--port", "0", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot listen on 'no-such-host.invalid'" in _one_line(result.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--bogus"], r"No such option.*--bogus"),
        (["serve", "--port", "seventy"], r"Invalid value for '--port'"),
        (["worker", "--port", "1"], r"No such option.*--port"),
        (["nonsense"], r"No such command.*nonsense"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    # The wording is click's and varies between releases; the shape does not.
    result = run_cstar(*args, cwd=tmp_path)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith("Error: ")
    assert re.search(message, line), line


def test_ctrl_c_during_start_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [CSTAR, "serve", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    for line in process.stdout:
        if "Listening on" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
