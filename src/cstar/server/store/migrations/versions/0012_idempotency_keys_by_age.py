"""An index of idempotency keys by age, for a purge in small chunks.

Expired keys (older than 24 hours) were deleted in one statement that read the whole table: at a
thousand keyed publishes a second, 86 million rows, with SQLite's single writer held throughout.
With this index the purge deletes them oldest first, in transactions of a few milliseconds
(``store/deliveries.py``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
