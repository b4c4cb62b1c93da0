"""``cstar listen``: live events forwarded to a real local receiver that verifies them with
``cstar.webhook`` (the ``cstar-signature`` header, the session's printed secret); the local
server being down, and the stream being cut, are survived without losing or repeating events."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from cstar.webhook import WebhookSignatureVerificationError, construct_event
from tests.cli.conftest import Cli
from tests.helpers import bearer
from tests.realtime.proxy import CuttingProxy


class VerifyingReceiver:
    """A local endpoint: verifies each request with the session secret, records event ids."""

    def __init__(self, port: int = 0) -> None:
        self.secret = ""
        self.ids: list[str] = []
        self.rejected = 0
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    event = construct_event(body, self.headers["cstar-signature"], receiver.secret)
                    construct_event(body, self.headers["X-Signature"], receiver.secret)
                except (WebhookSignatureVerificationError, KeyError):
                    receiver.rejected += 1
                    self.send_response(400)
                else:
                    receiver.ids.append(event.id)
                    receiver.headers.append(dict(self.headers))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server: HTTPServer = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while len(self.ids) < count:
            assert time.monotonic() < deadline, f"{len(self.ids)} of {count} arrived"
            time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[VerifyingReceiver]:
    running = VerifyingReceiver()
    yield running
    running.close()


def ready(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else ""
    announced: dict[str, Any] = json.loads(line)
    assert announced["ready"] is True
    return announced


def records(process: subprocess.Popen[str], count: int) -> list[dict[str, Any]]:
    assert process.stdout is not None
    return [json.loads(process.stdout.readline()) for _ in range(count)]


def stop(process: subprocess.Popen[str], sig: int = signal.SIGINT) -> str:
    process.send_signal(sig)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return out


def publish(cli: Cli, event_type: str, n: int = 0) -> str:
    response = httpx.post(
        f"{cli.server.base_url}/api/v1/teams/{cli.team_id}/events",
        headers=bearer(cli.key),
        json={"type": event_type, "data": {"ticket": {"id": f"t{n}"}, "n": n}},
    )
    assert response.status_code == 202, response.text
    event_id: str = response.json()["data"]["id"]
    return event_id


def test_listen_forwards_verifiable_events_and_trigger_reaches_it(
    cli: Cli, receiver: VerifyingReceiver
) -> None:
    listen = cli.popen(
        "listen", "--forward-to", receiver.url, "--events", "ticket.*", "--json", *cli.flags()
    )
    try:
        receiver.secret = ready(listen)["secret"]
        assert receiver.secret.startswith("whsec_")
        triggered = cli("trigger", "ticket.created", "--json", *cli.flags())
        assert triggered.returncode == 0, triggered.stderr
        trigger_id = json.loads(triggered.stdout)["eventId"]
        publish(cli, "customer.created")
        published = publish(cli, "ticket.closed")
        receiver.wait_for(2)
        lines = records(listen, 2)
    finally:
        stop(listen)
    assert receiver.ids == [trigger_id, published]
    assert receiver.rejected == 0
    assert [(r["type"], r["status"]) for r in lines] == [
        ("ticket.created", 200),
        ("ticket.closed", 200),
    ]
    headers = receiver.headers[0]
    assert headers["X-Event-ID"] == trigger_id
    assert headers["X-Event-Type"] == "ticket.created"
    assert headers["cstar-signature"] == headers["X-Signature"]
    assert headers["X-Delivery-Attempt"] == "1"


def test_listen_prints_a_line_per_event_for_people(cli: Cli, receiver: VerifyingReceiver) -> None:
    listen = cli.popen("listen", "--forward-to", receiver.url, *cli.flags())
    assert listen.stdout is not None
    try:
        first = listen.stdout.readline()
        assert "Ready!" in first
        secret_line = listen.stdout.readline()
        receiver.secret = next(w for w in secret_line.split() if w.startswith("whsec_"))
        event_id = publish(cli, "ticket.updated")
        receiver.wait_for(1)
        line = listen.stdout.readline()
    finally:
        out = stop(listen, signal.SIGTERM)  # as a process manager stops it
    assert "ticket.updated" in line
    assert event_id in line
    assert "200 in" in line
    assert "Stopped after forwarding 1 event(s)." in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ProxyThread:
    """A CuttingProxy on its own event loop, controlled from this (synchronous) test."""

    def __init__(self, upstream_port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = CuttingProxy(upstream_port)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(5)

    def cut(self) -> int:
        return asyncio.run_coroutine_threadsafe(self._cut(), self.loop).result(5)

    async def _cut(self) -> int:
        return self.proxy.cut()

    def wait_connected(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.wait_connected(), self.loop).result(15)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_listen_survives_a_down_local_server_and_a_dropped_stream(cli: Cli) -> None:
    port = _free_port()
    upstream = int(cli.server.base_url.rsplit(":", 1)[1])
    proxy = ProxyThread(upstream)
    url = f"http://127.0.0.1:{port}/webhooks"
    flags = ["--api-key", cli.key, "--base-url", proxy.proxy.url]
    listen = cli.popen("listen", "--forward-to", url, "--events", "ticket.*", "--json", *flags)
    receiver: VerifyingReceiver | None = None
    try:
        secret = ready(listen)["secret"]
        lost = publish(cli, "ticket.created", 0)
        (refused,) = records(listen, 1)
        assert refused["id"] == lost
        assert refused["status"] is None
        assert "connection refused" in refused["error"]

        receiver = VerifyingReceiver(port)
        receiver.secret = secret
        published = []
        for n in range(1, 31):
            published.append(publish(cli, "ticket.updated", n))
            if n in (10, 20):
                proxy.wait_connected()
                assert proxy.cut() >= 1
        receiver.wait_for(len(published))
        lines = records(listen, len(published))
        time.sleep(0.5)
    finally:
        out = stop(listen)
        proxy.close()
        if receiver is not None:
            receiver.close()
    assert receiver.ids == published  # every event once, in order, across two cuts
    assert [line["id"] for line in lines] == published
    assert out == ""  # nothing after the last record: no duplicate was forwarded
