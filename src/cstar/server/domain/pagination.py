"""Cursor pagination: newest first, a stable order on ``(created_at, id)``, opaque cursors."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.text import has_control_characters

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Cursor:
    """The position after which a page starts: the last item of the previous page."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
            stamp, ident = raw.split("|", 1)
            moment = datetime.fromisoformat(stamp)
        except (ValueError, UnicodeError, binascii.Error):
            raise InvalidParameter("cursor", "cursor is not a cursor this API returned") from None
        if moment.tzinfo is None or not ident or has_control_characters(ident):
            raise InvalidParameter("cursor", "cursor is not a cursor this API returned")
        try:
            moment.astimezone(UTC)  # as the database will compare it
        except OverflowError:  # a hand-made cursor beyond the year 9999 (or before 1) in UTC
            raise InvalidParameter("cursor", "cursor is not a cursor this API returned") from None
        return cls(created_at=moment, id=ident)


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None


class Positioned(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


T = TypeVar("T", bound=Positioned)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        if not self.has_more or not self.items:
            return None
        last = self.items[-1]
        return Cursor(created_at=last.created_at, id=last.id).encode()
