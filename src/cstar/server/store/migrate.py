"""Apply the Alembic migrations that ship inside the package.

Called on every server and worker start. On PostgreSQL a transaction-scoped advisory lock makes
concurrent starts (several replicas rolling out at once) apply each migration exactly once.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from cstar.server.store.database import Database

SCRIPT_LOCATION = "cstar.server.store:migrations"
#: Arbitrary constant naming cStar's migration lock among PostgreSQL advisory locks.
_PG_LOCK_ID = 0x63537461  # "cSta"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    command.upgrade(alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database: Database) -> None:
    await database.write(_upgrade)


async def current_revision(database: Database) -> str | None:
    return await database.read(_current)
