"""Rate limit counts shared by API replicas.

Each API process used to count requests per key in its own memory, so three replicas let
through three times the limit. ``rate_limit_windows`` holds the count per limiter, fixed window
and key; processes take units from it in leases (``cstar.server.api.ratelimit``). The primary
key starts with the limiter and the window, which is what the purge of old windows filters on.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("limiter", sa.String(32), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("limiter", "window_start", "key", name="pk_rate_limit_windows"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")
