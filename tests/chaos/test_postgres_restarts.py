"""Chaos: the PostgreSQL server is restarted twice while two ``cstar worker`` processes deliver
5,000 events. Every event arrives, no attempt is recorded twice, every delivery ends succeeded,
and the workers' logs during the outages stay short (an outage is two lines per loop, not one
per try)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.fernet import Fernet

from cstar.server.bootstrap import Container, open_container
from cstar.server.config import Settings
from cstar.server.services.webhooks import WebhookDraft
from cstar.server.store.contract import StoreError
from tests.chaos.private_postgres import PrivatePostgres, private_postgres
from tests.e2e.server import start_worker
from tests.receiver import Receiver, Reply

pytestmark = pytest.mark.e2e

EVENTS = 5000
PUBLISHERS = 50
MAX_LOG_LINES = 100
#: How long each restart keeps the server down.
DOWN = 2.0


@pytest.fixture
def server() -> Iterator[PrivatePostgres]:
    with private_postgres() as running:
        yield running


@pytest.fixture
def master_key_text() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def shared(server: PrivatePostgres, master_key_text: str) -> AsyncIterator[Container]:
    settings = Settings(database_url=server.url, master_keys=(master_key_text,), dev=True)
    node = await open_container(settings, bootstrap=False)
    try:
        yield node
    finally:
        await node.aclose()


async def publish_all(node: Container, team_id: str) -> set[str]:
    ids: set[str] = set()

    async def publisher(offset: int) -> None:
        for i in range(offset, EVENTS, PUBLISHERS):
            outcome = await node.events.publish(
                team_id, "ticket.created", {"ticket": {"id": f"t{i}"}}
            )
            ids.add(outcome.event.id)

    await asyncio.gather(*(publisher(n) for n in range(PUBLISHERS)))
    return ids


def worker_env(server: PrivatePostgres, master_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSTAR_")}
    env.update(
        CSTAR_DATABASE_URL=server.url,
        CSTAR_MASTER_KEY=master_key,
        CSTAR_ENDPOINT_CONCURRENCY="8",
        CSTAR_DELIVERY_TIMEOUT="5s",
        CSTAR_LEASE="15s",
        CSTAR_RETRY_SCHEDULE="500ms,1s,1s,1s,1s,1s",
    )
    return env


async def read_lines(stream: asyncio.StreamReader, sink: list[tuple[float, str]]) -> None:
    while line := await stream.readline():
        sink.append((time.monotonic(), line.decode(errors="replace").rstrip()))


async def test_two_restarts_while_two_workers_deliver(
    server: PrivatePostgres, shared: Container, receiver: Receiver, master_key_text: str
) -> None:
    team = await shared.teams.create_team("Chaos")
    await shared.webhooks.create(
        team.team.id, WebhookDraft(name="receiver", url=receiver.url(), events="*")
    )
    # Slow enough that delivering everything takes longer than both restarts.
    receiver.plan("/hook", then=Reply(200, delay=0.02))
    published = await publish_all(shared, team.team.id)
    assert len(published) == EVENTS

    workers = [await start_worker(worker_env(server, master_key_text)) for _ in range(2)]
    logs: list[tuple[float, str]] = []
    readers = [
        asyncio.create_task(read_lines(w.stderr, logs)) for w in workers if w.stderr is not None
    ]
    try:
        await receiver.wait_for(300, timeout=30)
        outages_began = time.monotonic()
        for _ in range(2):
            await asyncio.to_thread(server.restart, down=DOWN)
            await receiver.wait_for(len(receiver.received()) + 200, timeout=60)
        deadline = time.monotonic() + 120
        while {r.header("x-event-id") for r in receiver.received()} < published:
            assert time.monotonic() < deadline, "not every event arrived"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the last attempts are recorded
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the workers said:\n" + _text(logs)) from None
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(w.wait(), 60) for w in workers]
        await asyncio.gather(*readers)
    assert codes == [0, 0], _text(logs)

    # Every event arrived (at least once) and every delivery ended succeeded.
    assert {r.header("x-event-id") for r in receiver.received()} == published

    def summary(conn: object) -> tuple[int, int, list[object]]:
        run = conn.exec_driver_sql  # type: ignore[attr-defined]
        succeeded = run("SELECT count(*) FROM deliveries WHERE status = 'succeeded'").scalar()
        total = run("SELECT count(*) FROM deliveries").scalar()
        twice = run(
            "SELECT delivery_id, attempt, count(*) FROM delivery_attempts "
            "GROUP BY delivery_id, attempt HAVING count(*) > 1"
        ).all()
        return int(succeeded), int(total), list(twice)

    try:
        succeeded, total, twice = await shared.database.read(summary)
    except StoreError:  # the test's own pooled connection died in a restart: once more
        succeeded, total, twice = await shared.database.read(summary)
    assert total == EVENTS
    assert succeeded == EVENTS
    assert twice == [], twice[:10]
    during = [line for at, line in logs if at >= outages_began]
    assert len(during) < MAX_LOG_LINES, "\n".join(during)


def _text(logs: list[tuple[float, str]]) -> str:
    return "\n".join(line for _, line in logs)
