"""Unit tests for cursor pagination in ``cstar.server.domain.pagination``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    Page,
    PageRequest,
)


def _token(raw: bytes) -> str:
    """Encode ``raw`` the way the API does: url-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Item:
    id: str
    created_at: datetime


MOMENT = datetime(2025, 12, 10, 14, 30, 0, 123456, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Cursor round trip
# ---------------------------------------------------------------------------------------------


def test_cursor_round_trip_utc_with_microseconds() -> None:
    cursor = Cursor(created_at=MOMENT, id="whk_abc123DEF456ghi789")

    decoded = Cursor.decode(cursor.encode())

    assert decoded == cursor
    assert decoded.created_at.microsecond == 123456
    assert decoded.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "tz",
    [
        timezone(timedelta(hours=5, minutes=30)),
        timezone(timedelta(hours=-8)),
        timezone(timedelta(0)),
    ],
)
def test_cursor_round_trip_keeps_the_offset(tz: timezone) -> None:
    moment = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=tz)
    cursor = Cursor(created_at=moment, id="key_x")

    decoded = Cursor.decode(cursor.encode())

    assert decoded.created_at == moment
    assert decoded.created_at.utcoffset() == moment.utcoffset()
    assert decoded.created_at.microsecond == 999999
    assert decoded.id == "key_x"


def test_cursor_round_trip_without_microseconds() -> None:
    cursor = Cursor(created_at=datetime(2025, 1, 1, tzinfo=UTC), id="whk_1")

    assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("ident", ["a|b", "|", "x|y|z", "id with spaces", "\u00e9t\u00e9-\u2603"])
def test_cursor_round_trip_with_unusual_ids(ident: str) -> None:
    cursor = Cursor(created_at=MOMENT, id=ident)

    assert Cursor.decode(cursor.encode()) == cursor


def test_cursor_encoding_is_unpadded_url_safe_base64() -> None:
    # Lengths chosen so that plain base64 would need padding and would contain '+' or '/'.
    for ident in ["a", "ab", "abc", "\u00ff\u00fe\u00fb?>", "???>>>"]:
        token = Cursor(created_at=MOMENT, id=ident).encode()

        assert "=" not in token
        assert "+" not in token
        assert "/" not in token
        assert token.isascii()
        assert Cursor.decode(token).id == ident


def test_cursor_encode_contains_iso_timestamp_and_id() -> None:
    token = Cursor(created_at=MOMENT, id="whk_1").encode()
    padded = token + "=" * (-len(token) % 4)

    assert base64.urlsafe_b64decode(padded) == b"2025-12-10T14:30:00.123456+00:00|whk_1"


def test_cursor_decode_accepts_a_padded_token() -> None:
    raw = b"2025-12-10T14:30:00+00:00|whk_1"
    padded = base64.urlsafe_b64encode(raw).decode()
    assert padded.endswith("=")

    assert Cursor.decode(padded) == Cursor(datetime(2025, 12, 10, 14, 30, tzinfo=UTC), "whk_1")


def test_cursors_of_different_positions_differ() -> None:
    a = Cursor(created_at=MOMENT, id="whk_1").encode()
    b = Cursor(created_at=MOMENT, id="whk_2").encode()
    c = Cursor(created_at=MOMENT + timedelta(microseconds=1), id="whk_1").encode()

    assert len({a, b, c}) == 3


# ---------------------------------------------------------------------------------------------
# Cursor.decode rejections
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("!!!!", id="not-base64-alphabet"),
        pytest.param("A", id="impossible-length"),
        pytest.param("AAAAA", id="impossible-length-5"),
        pytest.param("\u00e9t\u00e9", id="non-ascii"),
        pytest.param(_token(b"no-separator-here"), id="missing-separator"),
        pytest.param(_token(b"2025-12-10T14:30:00+00:00"), id="timestamp-only"),
        pytest.param(_token(b"not-a-date|whk_1"), id="bad-timestamp"),
        pytest.param(_token(b"|whk_1"), id="empty-timestamp"),
        pytest.param(_token(b"2025-13-40T99:00:00+00:00|whk_1"), id="impossible-date"),
        pytest.param(_token(b"2025-12-10T14:30:00|whk_1"), id="naive-timestamp"),
        pytest.param(_token(b"2025-12-10|whk_1"), id="date-only"),
        pytest.param(_token(b"2025-12-10T14:30:00+00:00|"), id="empty-id"),
        pytest.param(_token(b"\xff\xfe\xfd|whk_1"), id="not-utf8"),
        pytest.param(_token(b"2025-12-10T14:30:00+00:00|\xff"), id="not-utf8-id"),
    ],
)
def test_cursor_decode_rejects_bad_tokens(token: str) -> None:
    with pytest.raises(InvalidParameter) as excinfo:
        Cursor.decode(token)

    assert excinfo.value.param == "cursor"
    assert excinfo.value.message == "cursor is not a cursor this API returned"
    # The decoding error inside is not chained into what the client sees.
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None or excinfo.value.__suppress_context__


def test_cursor_decode_rejects_a_cursor_encoded_from_a_naive_datetime() -> None:
    token = Cursor(created_at=datetime(2025, 1, 1, 12, 0), id="whk_1").encode()

    with pytest.raises(InvalidParameter) as excinfo:
        Cursor.decode(token)

    assert excinfo.value.param == "cursor"


# ---------------------------------------------------------------------------------------------
# Page and PageRequest
# ---------------------------------------------------------------------------------------------


def test_page_request_defaults() -> None:
    request = PageRequest()

    assert request.limit == DEFAULT_LIMIT == 20
    assert request.after is None
    assert MAX_LIMIT == 100


def test_page_next_cursor_points_after_the_last_item() -> None:
    items = [
        Item("whk_3", MOMENT),
        Item("whk_2", MOMENT - timedelta(seconds=1)),
        Item("whk_1", MOMENT - timedelta(seconds=2, microseconds=5)),
    ]
    page = Page(items=items, has_more=True)

    token = page.next_cursor

    assert token is not None
    assert token == Cursor(created_at=items[-1].created_at, id="whk_1").encode()
    assert Cursor.decode(token) == Cursor(created_at=items[-1].created_at, id="whk_1")


def test_page_without_more_has_no_next_cursor() -> None:
    page = Page(items=[Item("whk_1", MOMENT)], has_more=False)

    assert page.has_more is False
    assert page.next_cursor is None


def test_empty_page_has_no_next_cursor_even_if_flagged_more() -> None:
    page: Page[Item] = Page(items=[], has_more=True)

    assert page.next_cursor is None


def test_single_item_page_with_more() -> None:
    page = Page(items=[Item("key_only", MOMENT)], has_more=True)

    assert page.has_more is True
    assert page.next_cursor == Cursor(MOMENT, "key_only").encode()
