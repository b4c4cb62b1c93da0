"""Outside --dev, deliveries never reach loopback, private, link-local or metadata addresses,
whatever the URL says when it is saved and however it spells its host: the URL is read once and
normalised, names are resolved in Python and every answer is checked, and the HTTP client is
pinned to an address that was checked just before, IP literals included."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from cstar.server.api.app import create_app
from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.dispatch.resolver import SafeResolver, TargetRefused, dialable
from cstar.server.dispatch.sender import Sender
from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.services.teams import CreatedTeam
from cstar.server.store.schema import webhooks
from tests.dispatch.support import StaticResolver, auth, make_webhook, wait_delivery
from tests.helpers import assert_success
from tests.receiver import Receiver
from tests.spellings import LOOPBACK_SPELLINGS, MALFORMED_HOSTS


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
    assert answers == ["93.184.216.34", "2606:4700::1"]
    with pytest.raises(OSError, match="non-public"):
        await SafeResolver(StaticResolver({"x.example": ["192.168.1.1"]})).resolve("x.example", 443)


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


# -- every spelling of a loopback host, at connect time ------------------------------------------


class Listener:
    """A real TCP listener on 127.0.0.1 and [::1] (one port) that records every connection it
    accepts: a delivery that reached it, TLS or not, shows up here."""

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self.port = 0
        self.ipv6 = False
        self._servers: list[asyncio.Server] = []

    async def start(self) -> None:
        for _ in range(50):
            v4 = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            self._servers = [v4]
            self.port = v4.sockets[0].getsockname()[1]
            try:
                self._servers.append(await asyncio.start_server(self._accept, "::1", self.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    return  # no IPv6 on this machine: 127.0.0.1 only
                await self.close()  # the port is taken on ::1: try another
                continue
            self.ipv6 = True
            return
        raise AssertionError("no port free on both 127.0.0.1 and ::1")

    async def close(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer.get_extra_info("peername")[:2])
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    running = Listener()
    await running.start()
    try:
        yield running
    finally:
        await running.close()


SPELLING_IDS = [family for family, _, _ in LOOPBACK_SPELLINGS]


async def forced_webhooks(
    node: Container, team: CreatedTeam, hosts: dict[str, str], port: int
) -> dict[str, str]:
    """One webhook per host, saved with a public URL, then pointed at ``host`` in the database.
    Answers ``{webhook id: family}``."""
    made: dict[str, str] = {}
    for family, host in hosts.items():
        hook = await make_webhook(node, team, "https://example.com/hook", name=family)
        await force_url(node, hook.webhook.id, f"https://{host}:{port}/hook")
        made[hook.webhook.id] = family
    return made


async def test_a_dev_sender_does_reach_the_listener(listener: Listener) -> None:
    """The control: the listener sees a connection when one is made, so the tests below can
    fail."""
    sender = Sender(timeout=5, max_response_bytes=100, allow_private=True)
    await sender.start()
    try:
        result = await sender.send(f"https://127.0.0.1:{listener.port}/hook", b"{}", {})
        if listener.ipv6:
            await sender.send(f"https://[::1]:{listener.port}/hook", b"{}", {})
    finally:
        await sender.close()
    assert result.success is False
    assert [host for host, _ in listener.connections] == (
        ["127.0.0.1", "::1"] if listener.ipv6 else ["127.0.0.1"]
    )


async def test_no_spelling_of_a_loopback_host_is_dialled_by_the_dispatcher(
    strict: Container, listener: Listener
) -> None:
    node = strict
    team = await node.teams.create_team("Strict")
    made = await forced_webhooks(
        node, team, {family: host for family, host, _ in LOOPBACK_SPELLINGS}, listener.port
    )
    dispatcher = node.dispatcher()
    task = asyncio.create_task(dispatcher.run())
    errors: dict[str, str | None] = {}
    try:
        await node.events.publish(team.team.id, "ticket.created", {"ticket": {"id": "t"}})
        deadline = time.monotonic() + 30
        while len(errors) < len(made) and time.monotonic() < deadline:
            for webhook_id, family in made.items():
                if family in errors:
                    continue
                (delivery,) = await wait_delivery(
                    node, team, webhook_id, status=DeliveryStatus.PENDING
                )
                if delivery.attempts:
                    (attempt,) = await node.delivery_store.list_attempts(delivery.id)
                    assert attempt.status_code is None, family
                    errors[family] = attempt.error
            await asyncio.sleep(0.05)
    finally:
        dispatcher.stop()
        await task
    assert set(errors) == set(made.values()), "some deliveries were never attempted"
    not_refused = {f: e for f, e in errors.items() if e is None or not e.startswith("refused:")}
    assert not_refused == {}
    assert listener.connections == []


async def test_no_spelling_of_a_loopback_host_is_dialled_by_a_test_send(
    strict: Container, listener: Listener
) -> None:
    node = strict
    team = await node.teams.create_team("Strict")
    made = await forced_webhooks(
        node, team, {family: host for family, host, _ in LOOPBACK_SPELLINGS}, listener.port
    )
    app = create_app(node.settings, container=node)
    results: dict[str, dict[str, object]] = {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as api:
        for webhook_id, family in made.items():
            response = await api.post(
                f"/api/v1/teams/{team.team.id}/webhooks/{webhook_id}/test",
                json={"event": "ticket.created"},
                headers=auth(team),
            )
            results[family] = assert_success(response)
    not_refused = {
        family: result
        for family, result in results.items()
        if result["success"] is not False
        or result["status"] is not None
        or not str(result["error"]).startswith("refused:")
    }
    assert not_refused == {}
    assert listener.connections == []


async def test_a_resolver_that_lets_loopback_through_still_never_connects(
    listener: Listener,
) -> None:
    """The last check is made on the address the client is pinned to, not in the resolver: even
    answers that no resolver filtered are refused, for IPv4, IPv6 and IPv4-mapped addresses
    alike."""
    answers = {"v4.example.com": ["127.0.0.1"], "mapped.example.com": ["::ffff:127.0.0.1"]}
    if listener.ipv6:
        answers["v6.example.com"] = ["::1"]
    sender = Sender(
        timeout=5, max_response_bytes=100, allow_private=False, resolver=StaticResolver(answers)
    )
    await sender.start()
    try:
        results = {
            name: await sender.send(f"https://{name}:{listener.port}/hook", b"{}", {})
            for name in answers
        }
    finally:
        await sender.close()
    dialled = {"v4.example.com": "127.0.0.1", "mapped.example.com": "::ffff:127.0.0.1"}
    dialled |= {"v6.example.com": "::1"} if listener.ipv6 else {}
    assert {name: result.error for name, result in results.items()} == {
        name: f"refused: connecting to {address}, not a public IP address; "
        "deliveries to private networks are allowed only when the server runs --dev"
        for name, address in dialled.items()
    }
    assert listener.connections == []


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "fe80::1%lo",
        "localhost",  # not an address: the client would resolve it
        "0x7f.1",
        "",
    ],
)
def test_dialable_refuses_every_non_public_address(address: str) -> None:
    with pytest.raises(TargetRefused, match=r"^refused: connecting to "):
        dialable(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1"])
def test_dialable_passes_a_public_address(address: str) -> None:
    assert dialable(address) == address


# -- malformed hosts: an answer, never an exception ----------------------------------------------

MALFORMED_IDS = [family for family, _ in MALFORMED_HOSTS]


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(("family", "host"), MALFORMED_HOSTS, ids=MALFORMED_IDS)
async def test_send_answers_a_malformed_host_with_an_error(
    family: str, host: str, allow_private: bool
) -> None:
    sender = Sender(timeout=5, max_response_bytes=100, allow_private=allow_private)
    await sender.start()
    try:
        result = await sender.send(f"https://{host}/hook", b"{}", {})
    finally:
        await sender.close()
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("refused: url host")


async def test_a_test_send_to_a_malformed_host_answers_200_with_the_error(
    strict: Container,
) -> None:
    node = strict
    team = await node.teams.create_team("Strict")
    made = await forced_webhooks(node, team, dict(MALFORMED_HOSTS), 443)
    app = create_app(node.settings, container=node)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as api:
        for webhook_id, family in made.items():
            response = await api.post(
                f"/api/v1/teams/{team.team.id}/webhooks/{webhook_id}/test",
                json={"event": "ticket.created"},
                headers=auth(team),
            )
            assert response.status_code == 200, (family, response.text)
            result = assert_success(response)
            assert result["success"] is False, family
            assert str(result["error"]).startswith("refused: url host"), (family, result)
