"""Start ``cstar serve`` as a user would (a subprocess, a real port) and read what it prints."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CSTAR = str(Path(sys.executable).with_name("cstar"))
STARTUP_TIMEOUT = 30.0


@dataclass
class Bootstrap:
    team_id: str
    secret_key: str
    publishable_key: str


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    base_url: str
    bootstrap: Bootstrap | None
    stdout_lines: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    pumps: list[threading.Thread] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.stdout_lines) + "".join(self.stderr_lines)

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _close(self.process, self.pumps)
        return self.process.returncode


def _close(process: subprocess.Popen[str], pumps: list[threading.Thread]) -> None:
    for pump in pumps:
        pump.join(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _pump(stream: object, sink: list[str]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        sink.append(line)


def start_server(
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    umask: int = -1,
) -> RunningServer:
    """Run ``cstar serve --port 0`` in ``cwd`` and wait until it says where it listens.
    ``umask``: the server's file creation mask (-1: this process's)."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CSTAR_") or k == "CSTAR_TEST_POSTGRES_URL"
    }
    full_env.update(env or {})
    process = subprocess.Popen(
        [CSTAR, "serve", "--port", "0", *(args or [])],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=umask,
    )
    out: list[str] = []
    err: list[str] = []
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, out), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, err), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        text = "".join(out)
        match = re.search(r"Listening on (http://\S+?)\s", text)
        if match:
            return RunningServer(
                process=process,
                base_url=match.group(1),
                bootstrap=_parse_bootstrap(text),
                stdout_lines=out,
                stderr_lines=err,
                pumps=pumps,
            )
        if process.poll() is not None:
            _close(process, pumps)
            raise RuntimeError(
                f"cstar serve exited with {process.returncode}:\n{''.join(out)}{''.join(err)}"
            )
        time.sleep(0.05)
    process.kill()
    process.wait()
    _close(process, pumps)
    raise RuntimeError(f"cstar serve did not start in time:\n{''.join(out)}{''.join(err)}")


def _parse_bootstrap(text: str) -> Bootstrap | None:
    team = re.search(r"Team id:\s+(\S+)", text)
    secret = re.search(r"Secret key:\s+(sk_\S+)", text)
    publishable = re.search(r"Publishable key:\s+(pk_\S+)", text)
    if not (team and secret and publishable):
        return None
    return Bootstrap(team.group(1), secret.group(1), publishable.group(1))


def run_cstar(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CSTAR_")}
    full_env.update(env or {})
    return subprocess.run(
        [CSTAR, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def start_worker(env: dict[str, str]) -> asyncio.subprocess.Process:
    """``cstar worker --dev`` with exactly ``env``; returns once it has said it is dispatching."""
    process = await asyncio.create_subprocess_exec(
        CSTAR,
        "worker",
        "--dev",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    banner = await asyncio.wait_for(process.stdout.readline(), 30)
    assert b"worker" in banner, banner
    return process


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """SIGTERM (unless it has exited), then its exit code and stderr."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, err.decode()
