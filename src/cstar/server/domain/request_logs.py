"""The API request log: what is kept of each request, and how its listing is filtered and paged.

An entry holds the method, the path (with the *names* of query parameters, never their values),
the status, the duration, the request id and which key made the request (its id and display
prefix). Never a key, a secret or a body: anything in the path that looks like a key or a
signing secret is replaced by ``[redacted]`` before it is kept.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, quote

from cstar.server.domain.errors import InvalidParameter

#: Ids are 64-bit integers on both databases.
MAX_ID = 2**63 - 1
METHOD_MAX = 16
PATH_MAX = 2048
#: Query parameter names kept per entry, and the length of each.
_MAX_NAMES = 20
_NAME_MAX = 64
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
REDACTED = "[redacted]"

_SECRET = re.compile(r"(?:sk|pk)_(?:test|live)_[0-9A-Za-z]{4,}|whsec_[0-9A-Za-z]{4,}", re.I)
#: Characters kept as they are when a decoded path is written back as a URL path.
_PATH_SAFE = "/-._~!$&'()*+,;=:@[]"
_STATUS = re.compile(r"([1-5])(?:([0-9]{2})|xx)", re.I)


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One API request, as the request log keeps it."""

    team_id: str
    created_at: datetime
    method: str
    path: str
    status: int
    duration_ms: int
    request_id: str
    key_id: str
    key_prefix: str


@dataclass(frozen=True, slots=True)
class LoggedRequest(RequestLogEntry):
    """An entry as stored: ``id`` increases with every entry written (the listing's cursor)."""

    id: int


def _redact(text: str) -> str:
    return _SECRET.sub(REDACTED, text)


#: Paths and query strings up to this long are remembered (the same few paths repeat under
#: load: publishing is always ``/api/v1/teams/{teamId}/events``); 1,024 of them at most.
_REMEMBERED_MAX = 256


def loggable_path(path: str, query_string: bytes = b"") -> str:
    """``path`` (decoded, as ASGI gives it) as an ASCII URL path, with the names of the query
    parameters (``/webhooks?active&limit``) and nothing that looks like a key or a secret."""
    if len(path) + len(query_string) <= _REMEMBERED_MAX:
        return _remembered_path(path, query_string)
    return _loggable_path(path, query_string)


def _loggable_path(path: str, query_string: bytes) -> str:
    shown = quote(_redact(path), safe=_PATH_SAFE)
    names: list[str] = []
    query = query_string.decode("latin-1")
    for name, _value in parse_qsl(query, keep_blank_values=True):
        cleaned = quote(_redact(name), safe="[]")[:_NAME_MAX]
        if cleaned and cleaned not in names:
            names.append(cleaned)
        if len(names) >= _MAX_NAMES:
            break
    if names:
        shown += "?" + "&".join(names)
    if len(shown) > PATH_MAX:
        shown = shown[: PATH_MAX - 3] + "..."
    return shown


_remembered_path = functools.lru_cache(maxsize=1024)(_loggable_path)


def loggable_method(method: str) -> str:
    return method.upper()[:METHOD_MAX]


# -- the listing ----------------------------------------------------------------------------


def parse_method(value: str | None) -> str | None:
    """``get`` or ``GET`` → ``GET``; empty means no filter."""
    if value is None or not value.strip():
        return None
    method = value.strip().upper()
    if method not in METHODS:
        raise InvalidParameter("method", f"method must be one of {', '.join(METHODS)}")
    return method


@dataclass(frozen=True, slots=True)
class StatusRange:
    """Statuses from ``low`` to ``high``, both included: one status, or a class such as 4xx."""

    low: int
    high: int


def parse_status(value: str | None) -> StatusRange | None:
    """``404`` (one status) or ``4xx`` (a class, ``1xx`` to ``5xx``); empty means no filter."""
    if value is None or not value.strip():
        return None
    match = _STATUS.fullmatch(value.strip())
    if match is None:
        raise InvalidParameter(
            "status",
            "status must be an HTTP status such as 404 or a class such as 2xx, 4xx or 5xx",
        )
    first, rest = match.groups()
    if rest is None:
        low = int(first) * 100
        return StatusRange(low, low + 99)
    code = int(first + rest)
    return StatusRange(code, code)


@dataclass(frozen=True, slots=True)
class LogCursor:
    """Where the next page starts: after entry ``id``, going down (newest first) or, when the
    listing has ``after``, going up (oldest first)."""

    id: int
    ascending: bool

    def encode(self) -> str:
        raw = f"rl:{'a' if self.ascending else 'd'}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> LogCursor:
        invalid = InvalidParameter("cursor", "cursor is not a cursor this API returned")
        try:
            padded = token + "=" * (-len(token) % 4)
            raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        except (ValueError, UnicodeError, binascii.Error):
            raise invalid from None
        match = re.fullmatch(r"rl:([ad]):([0-9]{1,19})", raw)
        if match is None or int(match.group(2)) > MAX_ID:
            raise invalid
        return cls(id=int(match.group(2)), ascending=match.group(1) == "a")


@dataclass(frozen=True, slots=True)
class RequestLogQuery:
    """A page of one team's request log.

    Without ``after``: newest first, below ``cursor``. With ``after``: only entries with a
    greater id, oldest first (for following new entries), above ``cursor`` when given.
    """

    limit: int
    method: str | None = None
    status: StatusRange | None = None
    after: int | None = None
    cursor: LogCursor | None = None

    def __post_init__(self) -> None:
        if self.cursor is not None and self.cursor.ascending != (self.after is not None):
            raise InvalidParameter(
                "cursor",
                "cursor belongs to a listing "
                + ("without" if self.after is not None else "with")
                + " `after`: send the same filters as for the previous page",
            )

    @property
    def ascending(self) -> bool:
        return self.after is not None


@dataclass(frozen=True, slots=True)
class RequestLogPage:
    items: list[LoggedRequest]
    has_more: bool
    ascending: bool

    @property
    def next_cursor(self) -> str | None:
        if not self.has_more or not self.items:
            return None
        return LogCursor(self.items[-1].id, self.ascending).encode()
