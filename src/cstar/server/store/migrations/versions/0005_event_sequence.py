"""A global, increasing sequence number on every event: the realtime stream's cursor.

Streams send each event with ``id: <seq>`` and resume after the ``Last-Event-ID`` a client sends
back, so the number must only grow. PostgreSQL takes it from an identity column; several API
processes may commit out of order, and the stream's tail waits briefly for such gaps
(``server/realtime/tail.py``). SQLite serialises writers, so each insert takes ``MAX(seq) + 1``
in its own transaction (``store/sqlite/queries.sql``); purging always keeps the newest event, so the
number never goes back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Existing rows get numbers as the column is added.
        op.add_column("events", sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False))
    else:
        op.add_column("events", sa.Column("seq", sa.BigInteger, nullable=True))
        op.execute("UPDATE events SET seq = rowid")
        with op.batch_alter_table("events") as batch:
            batch.alter_column("seq", existing_type=sa.BigInteger, nullable=False)
    op.create_index("ix_events_seq", "events", ["seq"], unique=True)
    op.create_index("ix_events_team_id_seq", "events", ["team_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_events_team_id_seq", table_name="events")
    op.drop_index("ix_events_seq", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("seq")
