"""Migration 0013 keeps the attempts it moves: those written before it are in the partitioned
table afterwards (in the partition of their day, on PostgreSQL), and in a plain table again after
its downgrade."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from cstar.server.store import migrate
from cstar.server.store.database import open_database
from tests.migrations import schema_drift
from tests.postgres import fresh_database

AT = datetime(2026, 3, 14, 15, 9, tzinfo=UTC)


def _to(revision: str, *, down: bool = False) -> Callable[[sa.Connection], None]:
    def work(conn: sa.Connection) -> None:
        (command.downgrade if down else command.upgrade)(migrate.alembic_config(conn), revision)

    return work


def _old_rows(conn: sa.Connection) -> None:
    pg = conn.dialect.name == "postgresql"
    at: datetime = AT if pg else AT.replace(tzinfo=None)
    statements = (
        "INSERT INTO teams (id, name, created_at) VALUES ('t', 'T', :at)",
        "INSERT INTO webhooks (id, team_id, name, url, events, is_active, secret_ciphertext,"
        " created_at, updated_at) VALUES ('wh', 't', 'h', 'https://example.com/h', '[\"*\"]',"
        " true, 'x', :at, :at)",
        "INSERT INTO events (id, team_id, type, payload, is_test, created_at"
        + (")" if pg else ", seq)")
        + " VALUES ('evt', 't', 'ticket.created', '{}', false, :at"
        + (")" if pg else ", 1)"),
        "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status, attempts,"
        " retry_index, created_at, updated_at) VALUES ('dlv', 't', 'evt', 'wh',"
        " 'ticket.created', 'succeeded', 2, 2, :at, :at)",
        "INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at,"
        " duration_ms, success, url, request_headers) VALUES"
        " ('dlv', 'wh', 1, :at, 5, false, 'https://example.com/h', '{}'),"
        " ('dlv', 'wh', 2, :at, 5, true, 'https://example.com/h', '{}')",
    )
    for statement in statements:
        conn.execute(sa.text(statement), {"at": at})


def _attempts(conn: sa.Connection) -> list[tuple[object, ...]]:
    return [
        tuple(row)
        for row in conn.execute(
            sa.text("SELECT id, delivery_id, attempt FROM delivery_attempts ORDER BY id")
        )
    ]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database("cstar_0013") as url:
        yield url


async def _moves_the_history(url: str) -> None:
    database = open_database(url)
    try:
        await database.write(_to("0012"))
        await database.write(_old_rows)
        before = await database.read(_attempts)
        assert len(before) == 2

        await migrate.upgrade(database)
        assert await schema_drift(database) == []
        assert await database.read(_attempts) == before
        if database.dialect == "postgresql":
            held = await database.read(
                lambda conn: conn.scalar(
                    sa.text("SELECT count(*) FROM delivery_attempts_p20260314")
                )
            )
            assert held == 2
            # Later attempts continue the numbering.
            await database.write(
                lambda conn: conn.execute(
                    sa.text(
                        "INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt,"
                        " started_at, duration_ms, success, url, request_headers)"
                        " VALUES ('dlv', 'wh', 3, :at, 5, true, 'u', '{}')"
                    ),
                    {"at": AT},
                )
            )
            ids = [row[0] for row in await database.read(_attempts)]
            assert ids[-1] > max(row[0] for row in before)  # type: ignore[operator]

        await database.write(_to("0012", down=True))
        after = await database.read(_attempts)
        assert after[: len(before)] == before
        # Plain tables again, with the cascade from deliveries to attempts.
        await database.write(lambda conn: conn.execute(sa.text("DELETE FROM deliveries")))
        assert await database.read(_attempts) == []
        await migrate.upgrade(database)
        assert await schema_drift(database) == []
    finally:
        await database.dispose()


async def test_0013_moves_sqlite_history(tmp_path: Path) -> None:
    await _moves_the_history(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
async def test_0013_moves_postgres_attempts_into_day_partitions(pg_url: str) -> None:
    await _moves_the_history(pg_url)
