"""Named SQL statements, read from a ``.sql`` file shipped in the package.

A file holds blocks, each opened by a ``-- name: <name>`` line and running to the next one::

    -- name: next_due
    -- The earliest delivery not yet due.
    SELECT min(next_attempt_at) FROM deliveries WHERE ...

The comment lines and blank lines that open a block (and those that close it) document the
statement and are not part of it; before the first block only comments and blank lines may
appear. A file is read once per process. A name defined twice is an error when the file is
read, a name not defined one when it is asked for; both name the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files

_NAME = re.compile(r"^--\s*name:\s*(?P<name>\S+)\s*$")


class QueryError(KeyError, AttributeError):
    """A query file defines a name twice, or has no statement of the name asked for (a
    ``KeyError`` for ``queries[name]``, an ``AttributeError`` for ``queries.name``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Queries(Mapping[str, str]):
    """One file's statements by name, read-only: ``queries["fan_out"]`` or ``queries.fan_out``."""

    __slots__ = ("_source", "_statements")

    def __init__(self, source: str, statements: Mapping[str, str]) -> None:
        self._source = source
        self._statements = dict(statements)

    @property
    def source(self) -> str:
        """Where the statements were read from (for error messages)."""
        return self._source

    def __getitem__(self, name: str) -> str:
        try:
            return self._statements[name]
        except KeyError:
            raise QueryError(f"{self._source} has no query named {name!r}") from None

    def __getattr__(self, name: str) -> str:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._statements)

    def __len__(self) -> int:
        return len(self._statements)

    def __repr__(self) -> str:
        return f"Queries({self._source!r}, {sorted(self._statements)})"


def parse(text: str, source: str) -> Queries:
    """The named statements of ``text`` (read from ``source``, named in errors)."""
    statements: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []

    def close() -> None:
        if name is None:
            if any(line.strip() and not _comment(line) for line in lines):
                raise QueryError(f"{source}: SQL before the first '-- name:' line")
            return
        body = _statement(lines)
        if not body:
            raise QueryError(f"{source}: query {name!r} is empty")
        statements[name] = body

    for number, line in enumerate(text.splitlines(), 1):
        match = _NAME.match(line.strip())
        if match is None:
            lines.append(line)
            continue
        close()
        name = match["name"]
        if name in statements:
            raise QueryError(f"{source}:{number}: query {name!r} is defined twice")
        lines = []
    close()
    return Queries(source, statements)


@cache
def load(package: str, filename: str = "queries.sql") -> Queries:
    """The named statements of ``filename`` in ``package`` (read once, then shared)."""
    text = files(package).joinpath(filename).read_text(encoding="utf-8")
    return parse(text, f"{package.replace('.', '/')}/{filename}")


def _comment(line: str) -> bool:
    return line.lstrip().startswith("--")


def _statement(lines: list[str]) -> str:
    """A block's statement: its lines less the comments and blank lines around them."""
    start, end = 0, len(lines)
    while start < end and (not lines[start].strip() or _comment(lines[start])):
        start += 1
    while end > start and (not lines[end - 1].strip() or _comment(lines[end - 1])):
        end -= 1
    return "\n".join(lines[start:end])
