"""The migrations as tests read them: each revision's module, oldest first, and the PostgreSQL
functions an SQL text creates.

A migration that creates or changes functions holds the text its ``upgrade`` runs in a module
constant (``CYCLE``), and the text its ``downgrade`` restores in one named ``PREVIOUS_*``.
"""

from __future__ import annotations

import re
from functools import cache
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from cstar.server.store import migrate
from cstar.server.store.database import Database
from cstar.server.store.schema import is_partition, metadata

#: One ``CREATE [OR REPLACE] FUNCTION`` statement, from ``CREATE`` to its closing quote and ``;``.
_CREATE_FUNCTION = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(\w+)\s*\(.*?\$(\w*)\$.*?\$\2\$\s*;", re.S
)


@cache
def revisions() -> tuple[str, ...]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return tuple(reversed([s.revision for s in script.walk_revisions()]))


@cache
def migration(revision: str) -> ModuleType:
    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(revision)
    assert script is not None
    module: ModuleType = script.module
    return module


def functions(sql: str) -> dict[str, str]:
    """The ``CREATE FUNCTION`` statements in ``sql``, by function name."""
    found: dict[str, str] = {}
    for match in _CREATE_FUNCTION.finditer(sql):
        assert match.group(1) not in found, f"{match.group(1)} is created twice"
        found[match.group(1)] = match.group(0)
    return found


def body(statement: str) -> str:
    """What PostgreSQL keeps as a function's source (``pg_proc.prosrc``): the text between the
    dollar quotes."""
    match = re.search(r"AS\s+\$(\w*)\$(.*)\$\1\$", statement, re.S)
    assert match is not None
    return match.group(2)


def created(revision: str) -> dict[str, str]:
    """The functions ``revision``'s upgrade creates, by name, as its constants write them."""
    found: dict[str, str] = {}
    for name, value in vars(migration(revision)).items():
        if isinstance(value, str) and name.isupper() and not name.startswith("PREVIOUS_"):
            found.update(functions(value))
    return found


def functions_after(revision: str) -> dict[str, str]:
    """Every function as the migrations up to ``revision`` leave it (the newest text of each)."""
    found: dict[str, str] = {}
    for each in revisions()[: revisions().index(revision) + 1]:
        found.update(created(each))
    return found


def _compared(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    """What the drift check compares: not PostgreSQL's day partitions (each a table there)."""
    return not (kind == "table" and name is not None and is_partition(name))


async def schema_drift(database: Database) -> list[Any]:
    def compare(conn: sa.Connection) -> list[Any]:
        options = {"include_object": _compared}
        return compare_metadata(MigrationContext.configure(conn, opts=options), metadata)

    diffs: list[Any] = await database.read(compare)
    return diffs
