"""Migration 0014 (per-endpoint delivery controls) on a database with work in it: existing
webhooks get today's behaviour and a pace, nothing is lost, and the downgrade makes what waits for
a FIFO turn due again, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cstar.server.store import migrate
from cstar.server.store.database import open_database
from tests.contract.test_partition_migration import AT, _old_rows, _to
from tests.migrations import schema_drift
from tests.postgres import fresh_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database("cstar_0014") as url:
        yield url


def _scalar(query: str) -> object:
    def work(conn: sa.Connection) -> object:
        return conn.execute(sa.text(query)).scalar()

    return work


def _pending_row(conn: sa.Connection) -> None:
    pg = conn.dialect.name == "postgresql"
    conn.execute(
        sa.text(
            "INSERT INTO deliveries (id, team_id, event_id, webhook_id, event_type, status,"
            " attempts, retry_index, next_attempt_at, created_at, updated_at) VALUES"
            " ('dlv2', 't', 'evt', 'wh', 'ticket.created', 'pending', 0, 0, :at, :at, :at)"
        ),
        {"at": AT if pg else AT.replace(tzinfo=None)},
    )


async def _keeps_the_work(url: str) -> None:
    database = open_database(url)
    try:
        await database.write(_to("0013"))
        await database.write(_old_rows)
        await database.write(_pending_row)

        await migrate.upgrade(database)
        assert await schema_drift(database) == []
        row = await database.read(
            lambda conn: conn.execute(
                sa.text(
                    "SELECT signature_scheme, headers_ciphertext, rate_limit, ordering,"
                    " timeout_seconds FROM webhooks WHERE id = 'wh'"
                )
            ).one()
        )
        assert tuple(row) == ("cstar", None, None, "none", None)
        assert await database.read(_scalar("SELECT count(*) FROM webhook_pacing")) == 1
        assert await database.read(_scalar("SELECT count(*) FROM deliveries")) == 2
        assert (
            await database.read(
                _scalar("SELECT count(*) FROM deliveries WHERE next_attempt_at IS NOT NULL")
            )
            == 1
        )

        # A FIFO turn waiting when the migration goes down falls due.
        await database.write(
            lambda conn: conn.execute(
                sa.text(
                    "UPDATE deliveries SET next_attempt_at = NULL, event_seq = 1 WHERE id = 'dlv2'"
                )
            )
        )
        await database.write(_to("0013", down=True))
        assert (
            await database.read(
                _scalar("SELECT count(*) FROM deliveries WHERE next_attempt_at IS NULL")
            )
            == 1  # the succeeded one, which never had a due time
        )
        assert await database.read(_scalar("SELECT count(*) FROM webhooks")) == 1
        await migrate.upgrade(database)
        assert await schema_drift(database) == []
    finally:
        await database.dispose()


async def test_0014_keeps_sqlite_work(tmp_path: Path) -> None:
    await _keeps_the_work(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
async def test_0014_keeps_postgres_work(pg_url: str) -> None:
    await _keeps_the_work(pg_url)
