"""``client.realtime`` of both SDK clients against the real server over HTTP: subscriptions,
filters, teardown, final refusals, and exactly-once delivery across cut connections and a
briefly unreachable server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from cstar.sdk import AsyncCStarClient, AuthenticationError, CStarClient
from cstar.sdk.realtime import RealtimeEvent
from tests.realtime.conftest import Live
from tests.realtime.proxy import CuttingProxy


class Inbox:
    """Events a callback received, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[RealtimeEvent] = []

    def __call__(self, event: RealtimeEvent) -> None:
        with self._lock:
            self.events.append(event)

    @property
    def ids(self) -> list[str]:
        with self._lock:
            return [e.id for e in self.events]

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.ids) < count:  # noqa: ASYNC110 - filled by another thread
                await asyncio.sleep(0.01)


def sync_client(live: Live, base_url: str | None = None, key: str | None = None) -> CStarClient:
    return CStarClient(
        api_key=key or live.team.secret_key,
        team_id=live.team.team.id,
        base_url=base_url or live.base_url,
    )


async def publish(http: httpx.AsyncClient, live: Live, event_type: str, n: int = 0) -> str:
    response = await http.post(
        live.api("/events"), headers=live.headers, json={"type": event_type, "data": {"n": n}}
    )
    assert response.status_code == 202, response.text
    event_id: str = response.json()["data"]["id"]
    return event_id


@pytest.fixture
async def proxy(live: Live) -> AsyncIterator[CuttingProxy]:
    port = int(live.base_url.rsplit(":", 1)[1])
    running = CuttingProxy(port)
    await running.start()
    try:
        yield running
    finally:
        await running.close()


async def test_on_delivers_matching_events_until_off(live: Live, http: httpx.AsyncClient) -> None:
    client = sync_client(live)
    inbox = Inbox()
    off = client.realtime.on("ticket.*", inbox)
    try:
        assert await asyncio.to_thread(off.wait_ready, 5)
        first = await publish(http, live, "ticket.created")
        await publish(http, live, "customer.created")
        second = await publish(http, live, "ticket.closed")
        await inbox.wait_for(2)
        event = inbox.events[0]
        assert event.type == "ticket.created"
        assert event.data.n == 0
        assert event["team_id"] == live.team.team.id
        assert event.cursor == off.last_event_id or int(event.cursor) < int(off.last_event_id or 0)
        await asyncio.to_thread(off)
        assert not off.active
        await publish(http, live, "ticket.updated")
        await asyncio.sleep(0.3)
        assert inbox.ids == [first, second]
    finally:
        client.close()


async def test_close_tears_down_every_subscription(live: Live) -> None:
    client = sync_client(live)
    subs = [client.realtime.on(p, Inbox()) for p in ("ticket.*", "*", ["customer.created"])]
    for sub in subs:
        assert await asyncio.to_thread(sub.wait_ready, 5)
    assert live.container.streams.subscriber_count == 3
    await asyncio.to_thread(client.close)
    assert not any(sub.active for sub in subs)
    async with asyncio.timeout(3):
        while live.container.streams.subscriber_count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_refused_key_ends_the_subscription_with_a_typed_error(live: Live) -> None:
    client = sync_client(live, key="sk_test_" + "x" * 32)
    try:
        sub = client.realtime.on("*", Inbox())
        assert await asyncio.to_thread(sub.wait_ready, 5)
        await asyncio.to_thread(sub._thread.join, 5)
        assert not sub.active
        assert isinstance(sub.error, AuthenticationError)
        assert sub.error.request_id is not None
    finally:
        client.close()


def test_an_unknown_pattern_is_refused_before_connecting(live: Live) -> None:
    client = sync_client(live)
    with pytest.raises(ValueError, match=r"ticket\.nope"):
        client.realtime.on("ticket.nope", Inbox())
    client.close()


async def test_sync_stream_iterator_resumes_from_a_cursor(
    live: Live, http: httpx.AsyncClient
) -> None:
    before = await publish(http, live, "customer.created", 1)
    cursor = str(await live.container.streams.log.last_seq())  # the stream id of ``before``
    after = [await publish(http, live, "customer.updated", n) for n in range(3)]
    client = sync_client(live)

    def read_three() -> list[str]:
        got = []
        for event in client.realtime.stream("customer.*", last_event_id=cursor):
            got.append(event.id)
            if len(got) == 3:
                break
        return got

    try:
        assert await asyncio.to_thread(read_three) == after
    finally:
        client.close()
    assert before not in after


async def test_async_client_on_and_stream(live: Live, http: httpx.AsyncClient) -> None:
    async with AsyncCStarClient(
        api_key=live.team.secret_key, team_id=live.team.team.id, base_url=live.base_url
    ) as client:
        received: list[str] = []

        async def handler(event: RealtimeEvent) -> None:
            received.append(event.type)

        off = client.realtime.on(["customer.created", "ticket.*"], handler)
        async with asyncio.timeout(5):
            await off.wait_ready()

        async def first_two() -> list[str]:
            got = []
            async for event in client.realtime.stream("ticket.*"):
                got.append(event.id)
                if len(got) == 2:
                    return got
            return got

        reader = asyncio.create_task(first_two())
        await asyncio.sleep(0.3)
        ids = [
            await publish(http, live, "ticket.created"),
            await publish(http, live, "article.created"),
            await publish(http, live, "customer.created"),
            await publish(http, live, "ticket.closed"),
        ]
        async with asyncio.timeout(5):
            assert await reader == [ids[0], ids[3]]
            while len(received) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert received == ["ticket.created", "customer.created", "ticket.closed"]
        off()
    async with asyncio.timeout(3):
        while live.container.streams.subscriber_count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_cut_off_mid_stream_every_event_arrives_exactly_once_in_order(
    live: Live, http: httpx.AsyncClient, proxy: CuttingProxy, flavour: str
) -> None:
    inbox = Inbox()
    sync = sync_client(live, base_url=proxy.url) if flavour == "sync" else None
    aclient = (
        AsyncCStarClient(
            api_key=live.team.secret_key, team_id=live.team.team.id, base_url=proxy.url
        )
        if flavour == "async"
        else None
    )
    if sync is not None:
        sub = sync.realtime.on("*", inbox)
        assert await asyncio.to_thread(sub.wait_ready, 5)
    else:
        assert aclient is not None
        asub = aclient.realtime.on("*", inbox)
        async with asyncio.timeout(5):
            await asub.wait_ready()

    published: list[str] = []
    done = asyncio.Event()

    async def publisher() -> None:
        n = 0
        while not done.is_set():
            published.append(await publish(http, live, "customer.updated", n))
            n += 1
            await asyncio.sleep(0.005)

    publishing = asyncio.create_task(publisher())
    cuts = 0
    started = time.monotonic()
    for step in range(4):
        await proxy.wait_connected()
        await asyncio.sleep(0.2)  # mid-stream: events are flowing
        if step == 2:
            # The server "goes away" for a while: connections refused, events keep coming.
            proxy.refusing = True
            cuts += proxy.cut()
            await asyncio.sleep(1.2)
            proxy.refusing = False
        else:
            cuts += proxy.cut()
    await asyncio.sleep(0.2)
    done.set()
    await publishing
    await inbox.wait_for(len(published), timeout=20)
    await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive now
    if sync is not None:
        sync.close()
    if aclient is not None:
        await aclient.close()
    assert cuts == 4, "a cut found no live stream"
    assert len(published) >= 100
    assert proxy.connections >= 4, "the client did not reconnect"
    assert inbox.ids == published, (
        f"{len(inbox.ids)} received for {len(published)} published; "
        f"duplicates: {len(inbox.ids) - len(set(inbox.ids))}"
    )
    assert time.monotonic() - started < 25
