"""Strict JSON for request bodies: RFC 8259, and nothing that a database or a receiver would
have to mangle.

Refused with a 400 that names the top-level field holding the value (``body`` when the body as a
whole is at fault): text that is not UTF-8 or not JSON; ``NaN``, ``Infinity`` and numbers beyond
a double (``1e999``), which the standard library accepts and later serialises as ``null``;
integers outside 64 bits (``-2**63`` to ``2**64 - 1``), which would otherwise become floats and
lose digits; lone surrogates (``"\\ud800"``), which are not Unicode text and cannot be encoded;
nesting deeper than 1024 levels.

Bodies are parsed with orjson (faster than the standard library). Where a body is refused, the
field is found afterwards, without recursion: each top-level member is parsed on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from cstar.server.domain.errors import InvalidParameter

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
#: orjson refuses deeper documents.
MAX_DEPTH = 1024
_INT_DIGITS = len(str(INT_MAX))

#: A JSON string (valid JSON assumed: escapes are well formed).
_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
#: Strings are matched first so that digits inside them are never read as numbers.
_NUMBER_OR_STRING = re.compile(_STRING + rb"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_STRING_OR_BRACKET = re.compile(_STRING + rb"|[\[\]{}]")
_STRING_ONLY = re.compile(_STRING)
#: Every integer within 64 bits has at most 20 digits; only a body with a run of 19 or more
#: digits (anywhere, strings included) is looked at more closely. Found by mapping every digit
#: to ``0`` and searching for nineteen of them: four times faster than a regular expression.
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19
_SPACE = re.compile(rb"[ \t\n\r]*")
_SCALAR_END = re.compile(rb"[^,}\] \t\n\r]*")
_NON_FINITE = re.compile(rb"NaN|-?Infinity")


def parse(body: bytes) -> Any:
    """The JSON value of ``body``, or :class:`InvalidParameter` saying which field is wrong."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _refusal(body, _reason(body, exc.msg)) from None
    problem = _integer_problem(body)
    if problem is not None:
        raise _refusal(body, problem)
    return value


def _problem(text: bytes) -> str | None:
    """Why ``text`` (one JSON value) is refused, or ``None``."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return _reason(text, exc.msg)
    return _integer_problem(text)


def _reason(text: bytes, message: str) -> str:
    if "depth" in message:
        return f"is nested more than {MAX_DEPTH} levels deep"
    if "surrogate" in message and _is_utf8(text):
        return "holds a lone surrogate (\\ud800 to \\udfff without its pair), which is not text"
    if "infinity" in message:
        return _integer_problem(text) or "holds a number too large for a double (such as 1e999)"
    if _NON_FINITE.search(_STRING_ONLY.sub(b'""', text)) is not None:
        return "holds NaN or Infinity, which are not JSON numbers"
    return f"is not valid JSON ({message})"


def _integer_problem(text: bytes) -> str | None:
    """An integer beyond 64 bits in ``text``, if any. ``text`` is JSON, or (explaining an
    "infinity" refusal) JSON but for that number: strings are skipped whole either way."""
    if _LONG_RUN not in text.translate(_DIGITS_TO_ZERO):
        return None
    for match in _NUMBER_OR_STRING.finditer(text):
        token = match.group()
        if token[:1] == b'"' or any(c in token for c in b".eE"):
            continue
        if len(token.lstrip(b"-")) > _INT_DIGITS or not INT_MIN <= int(token) <= INT_MAX:
            shown = token.decode() if len(token) <= 40 else f"of {len(token)} digits"
            return (
                f"holds the integer {shown}, outside 64 bits ({INT_MIN} to {INT_MAX}); "
                "send it as a string"
            )
    return None


def _refusal(body: bytes, problem: str) -> InvalidParameter:
    """Name the top-level field at fault, else the body."""
    if not _is_utf8(body):
        return InvalidParameter("body", "Request body is not valid UTF-8")
    for key, value in _members(body):
        found = _problem(value)
        if found is not None:
            param = _within_items(key, value) or key
            return InvalidParameter(param, f"{param} {found}")
    return InvalidParameter("body", f"Request body {problem}")


def _within_items(key: str, value: bytes) -> str | None:
    """For a list of objects (a batch's ``events``): ``key[index].field`` of the field at fault."""
    for index, item in enumerate(_elements(value)):
        if _problem(item) is None:
            continue
        for field, raw in _members(item):
            if _problem(raw) is not None:
                return f"{key}[{index}].{field}"
        return f"{key}[{index}]"
    return None


def _elements(array: bytes) -> Iterator[bytes]:
    """The raw values of a JSON array, in order, scanned without recursion. Stops quietly where
    the text stops looking like an array."""
    pos = _SPACE.match(array).end()  # type: ignore[union-attr]
    if array[pos : pos + 1] != b"[":
        return
    pos += 1
    while True:
        start = _SPACE.match(array, pos).end()  # type: ignore[union-attr]
        end = _value_end(array, start)
        if end is None:
            return
        yield array[start:end]
        pos = _SPACE.match(array, end).end()  # type: ignore[union-attr]
        if array[pos : pos + 1] != b",":
            return
        pos += 1


def _members(body: bytes) -> Iterator[tuple[str, bytes]]:
    """``(key, raw value)`` of each member of a top-level JSON object, in order, scanned without
    recursion. Stops quietly where the text stops looking like an object."""
    pos = _SPACE.match(body).end()  # type: ignore[union-attr]
    if body[pos : pos + 1] != b"{":
        return
    pos += 1
    while True:
        pos = _SPACE.match(body, pos).end()  # type: ignore[union-attr]
        key_match = _STRING_ONLY.match(body, pos)
        if key_match is None:
            return
        try:
            key = orjson.loads(key_match.group())
        except orjson.JSONDecodeError:
            return
        pos = _SPACE.match(body, key_match.end()).end()  # type: ignore[union-attr]
        if body[pos : pos + 1] != b":":
            return
        start = _SPACE.match(body, pos + 1).end()  # type: ignore[union-attr]
        end = _value_end(body, start)
        if end is None:
            return
        yield str(key), body[start:end]
        pos = _SPACE.match(body, end).end()  # type: ignore[union-attr]
        if body[pos : pos + 1] != b",":
            return
        pos += 1


def _value_end(body: bytes, start: int) -> int | None:
    first = body[start : start + 1]
    if first == b'"':
        match = _STRING_ONLY.match(body, start)
        return None if match is None else match.end()
    if first not in (b"{", b"["):
        end = _SCALAR_END.match(body, start).end()  # type: ignore[union-attr]
        return end if end > start else None
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(body, start):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
        elif token in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                return match.end()
    return None


def _is_utf8(text: bytes) -> bool:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
