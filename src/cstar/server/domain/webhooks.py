"""Rules for webhook fields: name, delivery URL and event subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from cstar import events as catalog
from cstar.server.domain.addresses import is_forbidden_hostname, is_forbidden_ip, parse_ip
from cstar.server.domain.errors import InvalidParameter

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
    """Check a delivery URL. Outside ``dev`` only ``https://`` to a public host is accepted.

    Names are not resolved here: the dispatcher checks every resolved address when it connects.
    """
    cleaned = url.strip()
    if not cleaned:
        raise InvalidParameter("url", "url must not be empty")
    if len(cleaned) > URL_MAX:
        raise InvalidParameter("url", f"url must be at most {URL_MAX} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise InvalidParameter("url", "url must not contain spaces or control characters")
    try:
        parts = urlsplit(cleaned)
        port = parts.port
    except ValueError:
        raise InvalidParameter("url", f"url is not a valid URL: {cleaned}") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if dev else ("https",)
    if scheme not in allowed:
        if scheme == "http":
            raise InvalidParameter(
                "url", "url must use https:// (http:// is accepted only when the server runs --dev)"
            )
        raise InvalidParameter("url", "url must be an https:// URL")
    host = parts.hostname
    if not host:
        raise InvalidParameter("url", "url must include a host name")
    if parts.username is not None or parts.password is not None:
        raise InvalidParameter("url", "url must not contain credentials (user:password@)")
    if port == 0:
        raise InvalidParameter("url", "url must not use port 0")
    if not dev:
        address = parse_ip(host)
        if (address is not None and is_forbidden_ip(address)) or is_forbidden_hostname(host):
            raise InvalidParameter(
                "url",
                "url points to a loopback, private or otherwise non-public address; "
                "such targets are accepted only when the server runs --dev",
            )
    return cleaned


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
