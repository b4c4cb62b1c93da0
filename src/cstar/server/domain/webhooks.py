"""Rules for webhook fields: name, delivery URL and event subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

from cstar import events as catalog
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.targets import InvalidTarget, parse_target

NAME_MAX = 200
URL_MAX = 2048
EVENTS_MAX = 100


def clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidParameter("name", "name must not be empty")
    if len(cleaned) > NAME_MAX:
        raise InvalidParameter("name", f"name must be at most {NAME_MAX} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise InvalidParameter("name", "name must not contain control characters")
    return cleaned


def clean_url(url: str, *, dev: bool) -> str:
    """Check a delivery URL and answer its normal form, the one stored, shown and dialled.

    Outside ``dev`` only ``https://`` to a public host is accepted; a malformed host never is.
    The rules are :func:`cstar.server.domain.targets.parse_target`'s. Names are not resolved
    here: the dispatcher checks every address it dials when it connects.
    """
    cleaned = url.strip()
    if not cleaned:
        raise InvalidParameter("url", "url must not be empty")
    if len(cleaned) > URL_MAX:
        raise InvalidParameter("url", f"url must be at most {URL_MAX} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise InvalidParameter("url", "url must not contain spaces or control characters")
    try:
        normal = str(parse_target(cleaned, dev=dev))
    except InvalidTarget as exc:
        raise InvalidParameter("url", exc.message) from None
    if len(normal) > URL_MAX:
        raise InvalidParameter(
            "url",
            f"url must be at most {URL_MAX} characters once normalised "
            f"(punycode, percent-encoding): {len(normal)}",
        )
    return normal


def clean_events(value: str | Sequence[str]) -> tuple[str, ...]:
    """Accept ``"a,b"`` (REST docs) or ``["a", "b"]`` (SDK); answer a de-duplicated tuple."""
    items = value.split(",") if isinstance(value, str) else list(value)
    if len(items) > EVENTS_MAX:
        raise InvalidParameter("events", f"events may list at most {EVENTS_MAX} event types")
    patterns: list[str] = []
    for item in items:
        pattern = item.strip()
        if not pattern:
            if isinstance(value, str) and not value.strip():
                break
            raise InvalidParameter("events", "events must not contain empty entries")
        if not catalog.is_valid_pattern(pattern):
            raise InvalidParameter("events", f"Unknown event type: {pattern}")
        if pattern not in patterns:
            patterns.append(pattern)
    if not patterns:
        raise InvalidParameter("events", "events must name at least one event type")
    return tuple(patterns)
