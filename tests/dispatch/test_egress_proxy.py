"""``CSTAR_EGRESS_PROXY``: every delivery leaves through a forward proxy (a static-IP gateway),
and outside ``--dev`` the safe-target rules still hold for the target: a name is resolved and
checked here first, and the proxy is only asked for names whose every address is public."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cstar.server.dispatch.sender import Sender
from tests.dispatch.support import StaticResolver
from tests.proxy_server import ForwardProxy
from tests.receiver import Receiver

BODY = b'{"type": "ticket.created"}'
HEADERS = {"Content-Type": "application/json"}
PUBLIC = "93.184.216.34"


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ForwardProxy]:
    running = ForwardProxy(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def strict_sender(proxy: ForwardProxy) -> AsyncIterator[tuple[Sender, StaticResolver]]:
    resolver = StaticResolver(
        {
            "hooks.example.com": [PUBLIC],
            "both.example.com": [PUBLIC, "10.0.0.5"],
            "inside.example.com": ["10.0.0.5"],
            "loop.example.com": ["127.0.0.1"],
            "metadata.example.com": ["169.254.169.254"],
        }
    )
    sender = Sender(
        timeout=5.0,
        max_response_bytes=100,
        allow_private=False,
        resolver=resolver,
        proxy=proxy.url,
    )
    await sender.start()
    try:
        yield sender, resolver
    finally:
        await sender.close()


async def test_dev_deliveries_go_through_the_proxy_and_only_through_it(
    proxy: ForwardProxy, receiver: Receiver
) -> None:
    def dev_sender() -> Sender:
        return Sender(timeout=5.0, max_response_bytes=100, allow_private=True, proxy=proxy.url)

    sender = dev_sender()
    await sender.start()
    try:
        sent = await sender.send(receiver.url("/hook"), BODY, HEADERS)
    finally:
        await sender.close()  # the proxy logs a request once its connection closes
    assert sent.success, sent.error
    proxy.wait_for_request(f"POST 127.0.0.1:{receiver.port}/hook")
    assert len(receiver.received()) == 1

    proxy.stop()
    sender = dev_sender()
    await sender.start()
    try:
        blocked = await sender.send(receiver.url("/hook"), BODY, HEADERS)
    finally:
        await sender.close()
    # With the gateway down nothing is sent directly instead.
    assert not blocked.success
    assert blocked.error is not None
    assert blocked.error.startswith("connection failed"), blocked.error
    assert len(receiver.received()) == 1


async def test_a_public_name_is_resolved_and_checked_then_tunnelled_by_name(
    proxy: ForwardProxy, strict_sender: tuple[Sender, StaticResolver]
) -> None:
    sender, resolver = strict_sender

    result = await sender.send("https://hooks.example.com/hook", BODY, HEADERS)

    # The proxy was asked for the name (it resolves it again itself)...
    proxy.wait_for_request("CONNECT hooks.example.com:443")
    assert resolver.asked == ["hooks.example.com"]
    # ...and cannot reach the internet from this machine: an ordinary failed attempt.
    assert not result.success
    assert result.error is not None
    assert not result.error.startswith("refused")


async def test_a_public_address_is_tunnelled(
    proxy: ForwardProxy, strict_sender: tuple[Sender, StaticResolver]
) -> None:
    sender, _ = strict_sender

    await sender.send(f"https://{PUBLIC}/hook", BODY, HEADERS)

    proxy.wait_for_request(f"CONNECT {PUBLIC}:443")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://inside.example.com/hook", "resolves only to non-public addresses"),
        ("https://loop.example.com/hook", "resolves only to non-public addresses"),
        ("https://metadata.example.com/hook", "resolves only to non-public addresses"),
        # Through a proxy a name with any private address is refused: the proxy, not this
        # process, would choose which of its addresses to dial.
        ("https://both.example.com/hook", "10.0.0.5"),
        ("https://unknown.example.com/hook", "resolves only to non-public addresses"),
        ("https://127.0.0.1/hook", "non-public address"),
        ("https://10.0.0.5/hook", "non-public address"),
        ("https://[::1]/hook", "non-public address"),
        ("https://169.254.169.254/latest/meta-data", "non-public address"),
        ("https://localhost/hook", "non-public address"),
        ("http://hooks.example.com/hook", "https"),
    ],
)
async def test_non_public_targets_are_refused_before_the_proxy_is_asked(
    proxy: ForwardProxy,
    strict_sender: tuple[Sender, StaticResolver],
    url: str,
    reason: str,
) -> None:
    sender, _ = strict_sender

    result = await sender.send(url, BODY, HEADERS)

    assert not result.success
    assert result.error is not None
    assert result.error.startswith("refused"), result.error
    assert reason in result.error
    assert proxy.access_log() == []
