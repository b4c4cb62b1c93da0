"""The dispatcher's HTTP client (pyreqwest) keeps every safety property of a delivery: it dials
only the address it was pinned to, verifies TLS certificates, ignores proxies from the
environment, reads a bounded prefix of an answer without waiting for the rest, and keeps to its
connection limit. Each test runs against a real listener on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cstar.server.dispatch.clients import Clients
from cstar.server.dispatch.sender import Sender
from tests.dispatch.support import StaticResolver
from tests.receiver import Receiver, Reply

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[int]:
    """A TCP server running ``handler`` per connection; on leaving, every connection still open
    is ended and closed."""
    live: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        live.add(task)
        try:
            await handler(reader, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            live.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(run, host, port, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(live):
            task.cancel()
        await asyncio.gather(*live, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


@contextlib.asynccontextmanager
async def sender(**options: object) -> AsyncIterator[Sender]:
    settings: dict[str, object] = {"timeout": 5, "max_response_bytes": 100, "allow_private": True}
    running = Sender(**(settings | options))  # type: ignore[arg-type]
    await running.start()
    try:
        yield running
    finally:
        await running.close()


async def test_a_pinned_client_dials_its_address_and_never_the_names_own(
    receiver: Receiver,
) -> None:
    """``hooks.invalid`` resolves nowhere: the request can only arrive through the pin, and it
    keeps its own name in ``Host``."""
    clients = Clients(timeout=5, max_connections=4, https_only=False)
    try:
        client = clients.pinned("hooks.invalid", "127.0.0.1")
        url = f"http://hooks.invalid:{receiver.port}/pinned"
        async with client.post(url).body_bytes(b"{}").build_streamed() as response:
            assert response.status == 200
        other = f"http://other.invalid:{receiver.port}/other"
        with pytest.raises(Exception, match="dns error"):
            async with client.post(other).body_bytes(b"{}").build_streamed():
                pass
    finally:
        await clients.close()
    (request,) = receiver.received()
    assert request.path == "/pinned"
    assert request.header("host") == f"hooks.invalid:{receiver.port}"


async def test_a_name_is_tried_on_its_next_address_when_one_refuses_connections(
    receiver: Receiver,
) -> None:
    async def closed_port() -> int:
        async with raw_server(lambda r, w: asyncio.sleep(0)) as port:
            return port  # closed again on leaving: nothing listens there any more

    dead = await closed_port()
    resolver = StaticResolver({"two.example": ["127.0.0.2", "127.0.0.1"]})
    async with sender(resolver=resolver) as client:
        # 127.0.0.2 answers no connection on the receiver's port; 127.0.0.1 does.
        result = await client.send(f"http://two.example:{receiver.port}/hook", b"{}", {})
        again = await client.send(f"http://two.example:{receiver.port}/hook", b"{}", {})
        refused = await client.send(f"http://two.example:{dead}/hook", b"{}", {})
    assert result.success, result.error
    assert again.success, again.error
    assert resolver.asked == ["two.example", "two.example"]  # once per URL, then reused
    assert refused.error is not None
    assert refused.error == "connection failed: Connection refused"


async def test_an_address_is_looked_up_again_after_its_time(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cstar.server.dispatch import sender as sender_module

    monkeypatch.setattr(sender_module, "ROUTE_TTL", 0.0)
    resolver = StaticResolver({"again.example": ["127.0.0.1"]})
    async with sender(resolver=resolver) as client:
        for _ in range(2):
            result = await client.send(f"http://again.example:{receiver.port}/hook", b"{}", {})
            assert result.success
    assert resolver.asked == ["again.example", "again.example"]


def self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


async def test_an_untrusted_certificate_is_a_failed_attempt(tmp_path: Path) -> None:
    answered: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            answered.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    tls = self_signed(tmp_path)
    async with raw_server(handler, ssl_context=tls) as port, sender() as client:
        result = await client.send(f"https://localhost:{port}/hook", b"{}", {})
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("TLS certificate verification failed")
    assert answered == []


async def test_proxies_from_the_environment_are_ignored(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxied: list[bool] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxied.append(True)
        writer.close()

    async with raw_server(proxy) as port:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with sender() as client:
            result = await client.send(receiver.url(), b"{}", {})
    assert result.success, result.error
    assert proxied == []
    assert len(receiver.received()) == 1


async def test_a_long_answer_is_cut_without_waiting_for_the_rest() -> None:
    """The endpoint announces 100 MB, sends 1,000 bytes and stalls: the attempt records its
    status and first bytes at once, and does not wait for the timeout."""
    stalled = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stalled.wait(), 10)
        writer.close()

    async with raw_server(handler) as port:
        async with sender(timeout=5) as client:
            started = time.monotonic()
            result = await client.send(f"http://127.0.0.1:{port}/hook", b"{}", {})
            took = time.monotonic() - started
        stalled.set()
    assert result.status_code == 200
    assert result.response_body == "x" * 100
    assert took < 2


async def test_an_answer_that_trickles_past_the_timeout_is_a_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
        with contextlib.suppress(Exception):
            for _ in range(40):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()

    async with raw_server(handler) as port, sender(timeout=1, max_response_bytes=4096) as client:
        started = time.monotonic()
        result = await client.send(f"http://127.0.0.1:{port}/hook", b"{}", {})
        took = time.monotonic() - started
    assert result.status_code is None
    assert result.error == "timed out after 1s"
    assert took < 3


async def test_the_connection_limit_holds(receiver: Receiver) -> None:
    receiver.plan("/slow", then=Reply(delay=0.3))
    async with sender(pool_size=2) as client:
        results = await asyncio.gather(
            *(client.send(receiver.url("/slow"), b"{}", {}) for _ in range(6))
        )
    assert all(r.success for r in results)
    assert receiver.max_in_flight["/slow"] == 2


async def test_a_closed_connection_without_an_answer_is_described() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with raw_server(handler) as port, sender() as client:
        result = await client.send(f"http://127.0.0.1:{port}/hook", b"{}", {})
    assert result.status_code is None
    assert result.error == "the endpoint closed the connection without answering"
