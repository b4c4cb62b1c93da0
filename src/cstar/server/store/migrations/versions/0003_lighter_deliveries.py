"""Lighter delivery rows: one index fewer, and room for HOT updates on PostgreSQL.

Every delivery row is updated twice (its lease, then its result). The ``completed_at`` index
made each of those updates maintain one more index; purging now finds old work through
``events.created_at`` instead. On PostgreSQL a fillfactor of 70 leaves room in each page so the
lease update (which touches no indexed column) can be a heap-only tuple update.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_completed_at", table_name="deliveries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
    op.create_index("ix_deliveries_completed_at", "deliveries", ["completed_at"])
