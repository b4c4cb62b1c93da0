"""The named-query files: how they are read, and that each backend's file holds exactly the
statements its backend runs."""

from __future__ import annotations

import re
import token
import tokenize
from pathlib import Path

import pytest

from cstar.server.store import queries
from cstar.server.store.queries import QueryError, load, parse

STORE = Path(queries.__file__).parent


def test_blocks_run_to_the_next_name_without_their_comments() -> None:
    text = """-- A header comment.

-- name: first
-- What the first one does,
-- on two lines.
SELECT 1
FROM t  -- an inline comment stays

--name:second
SELECT 2;
-- trailing comment

"""
    q = parse(text, "x.sql")
    assert list(q) == ["first", "second"]
    assert q["first"] == "SELECT 1\nFROM t  -- an inline comment stays"
    assert q.second == "SELECT 2;"
    assert len(q) == 2


def test_a_name_defined_twice_is_refused_naming_the_file() -> None:
    with pytest.raises(QueryError, match=r"x\.sql:4: query 'a' is defined twice"):
        parse("-- name: a\nSELECT 1\n\n-- name: a\nSELECT 2\n", "x.sql")


def test_an_unknown_name_is_an_error_naming_the_file() -> None:
    q = parse("-- name: a\nSELECT 1\n", "x.sql")
    with pytest.raises(QueryError, match=r"x\.sql has no query named 'b'"):
        q["b"]
    with pytest.raises(QueryError, match=r"x\.sql has no query named 'b'"):
        _ = q.b
    assert q.get("b") is None


def test_sql_outside_a_block_and_empty_blocks_are_refused() -> None:
    with pytest.raises(QueryError, match="before the first"):
        parse("SELECT 1\n-- name: a\nSELECT 2\n", "x.sql")
    with pytest.raises(QueryError, match="'a' is empty"):
        parse("-- name: a\n-- nothing\n-- name: b\nSELECT 2\n", "x.sql")


def test_a_file_is_read_once() -> None:
    assert load("cstar.server.store.sqlite") is load("cstar.server.store.sqlite")


def test_queries_are_read_only() -> None:
    q = parse("-- name: a\nSELECT 1\n", "x.sql")
    with pytest.raises(TypeError):
        q["a"] = "SELECT 2"  # type: ignore[index]


# Each backend runs exactly the statements of its file: none missing, none dead.

_USED = re.compile(r"\b_SQL\.(\w+)")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_each_backend_runs_every_query_of_its_file_and_no_other(dialect: str) -> None:
    defined = set(load(f"cstar.server.store.{dialect}"))
    source = (STORE / dialect / "backend.py").read_text(encoding="utf-8")
    used = set(_USED.findall(source))
    assert used, f"{dialect}/backend.py runs no named query"
    assert used - defined == set(), f"used but not in {dialect}/queries.sql"
    assert defined - used == set(), f"dead queries in {dialect}/queries.sql"


#: The stores: SQLAlchemy Core the same for every database, with whatever differs left to the
#: backend picked in ``bootstrap.backend_for``.
STORES = [
    "deliveries.py",
    "sql.py",
    "request_logs.py",
    "dashboard_sessions.py",
    "event_log.py",
    "key_status.py",
]


@pytest.mark.parametrize("name", STORES)
def test_a_store_has_no_dialect_branch(name: str) -> None:
    """Its code (comments and strings aside, which may say why a statement suits a database)
    names no database, no dialect, and checks no type."""
    path = STORE / name
    with path.open("rb") as source:
        names = {t.string for t in tokenize.tokenize(source.readline) if t.type == token.NAME}
    assert names, path
    for word in names:
        lowered = word.lower()
        assert word not in ("_pg", "pg", "isinstance"), word
        assert not [w for w in ("postgres", "sqlite", "dialect") if w in lowered], word
