"""A real forward HTTP proxy for tests (proxy.py, from PyPI), as an egress gateway would be: it
forwards absolute-form requests and tunnels CONNECT, and its access log says what it was asked."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ForwardProxy:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self._workdir = workdir
        self._lines: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "proxy",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--num-workers",
                "1",
                "--num-acceptors",
                "1",
                "--pid-file",
                str(self._workdir / "proxy.pid"),
            ],
            cwd=self._workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self._process.poll() is not None:
                    raise RuntimeError("proxy.py exited:\n" + "".join(self._lines)) from None
                time.sleep(0.1)
        raise RuntimeError("proxy.py did not start:\n" + "".join(self._lines))

    def _pump(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in iter(self._process.stdout.readline, ""):
            self._lines.append(line)

    def access_log(self) -> list[str]:
        """What the proxy was asked, one line per request (``CONNECT host:443``, ``POST
        127.0.0.1:8000/hook``)."""
        return [line for line in self._lines if "access_log" in line]

    def wait_for_request(self, needle: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.access_log():
                if needle in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"the proxy saw no {needle!r}:\n" + "".join(self._lines))

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._pump_thread.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
