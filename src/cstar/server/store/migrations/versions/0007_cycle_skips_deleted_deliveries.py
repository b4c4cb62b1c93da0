"""PostgreSQL: the dispatcher's cycle drops attempts whose delivery is gone.

A webhook deleted while one of its deliveries is in flight takes its deliveries with it
(cascade). Recording that attempt then broke the foreign key, failed the whole cycle, and, as
the dispatcher retries a cycle's outcomes, stalled every delivery after it. The cycle now locks
the batch's delivery rows (after the webhook rows: the lock order every writer uses, so a
deletion waits for the cycle or the cycle sees the rows gone) and inserts only the attempts
whose delivery still exists. SQLite does the same in ``store/hotpath.py``.

This is 0004's function with that one statement changed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OLD_INSERT = """
        INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at,
            duration_ms, status_code, success, error, url, request_headers, response_body)
        SELECT u.d, u.w, u.n, u.s, u.ms, u.code, u.ok, u.err, u.url, u.h::json, u.body
        FROM unnest(a_delivery, a_webhook, a_attempt, a_started, a_ms, a_code, a_ok, a_error,
                    a_url, a_headers, a_body)
             AS u(d, w, n, s, ms, code, ok, err, url, h, body);
"""

_NEW_INSERT = """
        PERFORM 1 FROM deliveries AS d WHERE d.id = ANY(a_delivery) ORDER BY d.id FOR UPDATE;
        INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt, started_at,
            duration_ms, status_code, success, error, url, request_headers, response_body)
        SELECT u.d, u.w, u.n, u.s, u.ms, u.code, u.ok, u.err, u.url, u.h::json, u.body
        FROM unnest(a_delivery, a_webhook, a_attempt, a_started, a_ms, a_code, a_ok, a_error,
                    a_url, a_headers, a_body)
             AS u(d, w, n, s, ms, code, ok, err, url, h, body)
        WHERE EXISTS (SELECT 1 FROM deliveries AS x WHERE x.id = u.d);
"""


def _cycle_0004() -> str:
    path = Path(__file__).with_name("0004_pg_dispatch_cycle.py")
    spec = importlib.util.spec_from_file_location("cstar_migration_0004", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.CYCLE
    return text


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        text = _cycle_0004()
        if _OLD_INSERT not in text:  # pragma: no cover - 0004 is never edited
            raise RuntimeError("migration 0007 cannot find the statement it replaces")
        op.execute(text.replace(_OLD_INSERT, _NEW_INSERT))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_cycle_0004())
