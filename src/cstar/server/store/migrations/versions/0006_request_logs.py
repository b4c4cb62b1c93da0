"""The API request log: one row per API request of an authenticated caller.

``id`` is the cursor of ``GET /teams/{teamId}/logs`` (``after`` follows new entries by it), so
it must never be handed out twice: on SQLite the table is ``AUTOINCREMENT`` (a plain rowid would
reuse numbers once retention has emptied the table); on PostgreSQL it is a ``BIGSERIAL``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cstar.server.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("team_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_request_logs_team_id_teams", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_request_logs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_request_logs_team_id_id", "request_logs", ["team_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_request_logs_team_id_id", table_name="request_logs")
    op.drop_table("request_logs")
