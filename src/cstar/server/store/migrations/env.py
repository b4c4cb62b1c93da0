"""Alembic environment: always run through :func:`cstar.server.store.migrate.upgrade`.

The caller hands over an open connection (``config.attributes["connection"]``), so migrations use
the same engine, driver and transaction as the server that applies them.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cstar.server.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "cStar migrations run on server start (or `cstar admin migrate`), not from the alembic CLI"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
