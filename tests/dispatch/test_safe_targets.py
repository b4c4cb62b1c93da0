"""Outside --dev, deliveries never reach loopback, private, link-local or metadata addresses,
whatever the URL says when it is saved: every resolved address is checked at connect time."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.dispatch.sender import SafeResolver, Sender
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.schema import webhooks
from tests.dispatch.support import make_webhook, wait_delivery
from tests.receiver import Receiver


class StaticResolver(AbstractResolver):
    """DNS answers chosen by the test (a name that resolves to a private address)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": ip, "port": port, "family": family, "proto": 0, "flags": 0}
            for ip in self.answers.get(host, [])
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
async def strict(delivery_settings: Settings) -> AsyncIterator[Container]:
    node = await open_container(
        replace(delivery_settings, dev=False, retry_schedule=(60.0,)), bootstrap=False
    )
    try:
        yield node
    finally:
        await node.aclose()


async def force_url(node: Container, webhook_id: str, url: str) -> None:
    """As if saved by a --dev server (or edited in the database): the dispatcher must still
    refuse it."""
    await node.database.write(
        lambda conn: conn.execute(
            webhooks.update().where(webhooks.c.id == webhook_id).values(url=url)
        )
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1:{port}/hook", "non-public address"),
        ("https://[::1]:{port}/hook", "non-public address"),
        ("https://169.254.169.254/latest/meta-data", "non-public address"),
        ("https://10.0.0.5/hook", "non-public address"),
        ("https://localhost:{port}/hook", "non-public address"),
        ("http://example.com/hook", "only when the server runs --dev"),
    ],
)
async def test_stored_private_targets_are_refused_and_logged(
    strict: Container, receiver: Receiver, url: str, reason: str
) -> None:
    node = strict
    team = await node.teams.create_team("Strict")
    hook = await make_webhook(node, team, "https://example.com/hook")
    await force_url(node, hook.webhook.id, url.format(port=receiver.port))
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    try:
        await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": "t"}})
        (delivery,) = await wait_delivery(
            node, team, hook.webhook.id, status=DeliveryStatus.PENDING
        )
        for _ in range(200):
            (delivery,) = await wait_delivery(
                node, team, hook.webhook.id, status=DeliveryStatus.PENDING
            )
            if delivery.attempts:
                break
            await asyncio.sleep(0.02)
    finally:
        dispatcher.stop()
        await task
    (attempt,) = await node.delivery_store.list_attempts(delivery.id)
    assert attempt.success is False
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("refused:")
    assert reason in attempt.error
    assert receiver.requests == []


async def test_a_name_resolving_to_a_private_address_is_refused_at_connect_time(
    receiver: Receiver,
) -> None:
    sender = Sender(
        timeout=2,
        max_response_bytes=100,
        allow_private=False,
        resolver=SafeResolver(StaticResolver({"hooks.example.com": ["127.0.0.1"]})),
    )
    await sender.start()
    try:
        result = await sender.send(f"https://hooks.example.com:{receiver.port}/hook", b"{}", {})
    finally:
        await sender.close()
    assert result.status_code is None
    assert result.error == (
        "refused: hooks.example.com resolves only to non-public addresses (127.0.0.1); "
        "deliveries to private networks are allowed only when the server runs --dev"
    )
    assert receiver.requests == []


async def test_the_safe_resolver_keeps_only_public_answers() -> None:
    resolver = SafeResolver(
        StaticResolver({"mixed.example": ["10.0.0.1", "93.184.216.34", "::1", "2606:4700::1"]})
    )
    answers = await resolver.resolve("mixed.example", 443)
    assert [a["host"] for a in answers] == ["93.184.216.34", "2606:4700::1"]
    with pytest.raises(OSError, match="non-public"):
        await SafeResolver(StaticResolver({"x.example": ["192.168.1.1"]})).resolve("x.example")


async def test_the_real_system_resolver_is_checked_too(receiver: Receiver) -> None:
    """``localhost`` goes through the machine's real resolver (no fake DNS)."""
    sender = Sender(timeout=2, max_response_bytes=100, allow_private=False)
    await sender.start()
    try:
        result = await sender.send(f"https://localhost:{receiver.port}/hook", b"{}", {})
        hex_form = await sender.send(f"https://0x7f000001:{receiver.port}/hook", b"{}", {})
    finally:
        await sender.close()
    assert result.error is not None
    assert result.error.startswith("refused:")
    assert hex_form.error is not None
    assert hex_form.error.startswith("refused:")
    assert receiver.requests == []


async def test_dev_mode_delivers_to_loopback(
    node: Container, acme: CreatedTeam, receiver: Receiver
) -> None:
    assert node.settings.dev
    hook = await make_webhook(node, acme, receiver.url())
    result = await node.deliveries.send_test(
        acme.team.id, hook.webhook.id, "ticket.created", request_id=None
    )
    assert result.success
    assert len(receiver.requests) == 1
