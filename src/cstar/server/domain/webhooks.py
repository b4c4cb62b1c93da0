"""Rules for webhook fields: name, delivery URL, event subscriptions, and the per-endpoint
delivery controls (signature scheme, custom headers, rate limit, ordering, timeout)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import orjson

from cstar import events as catalog
from cstar.delivery_headers import CSTAR_SCHEME, STANDARD_SCHEME
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


# -- per-endpoint delivery controls (signature scheme, headers, pace, order, timeout) --------

#: The signature schemes a webhook may sign with (``cstar.delivery_headers``).
SIGNATURE_SCHEMES = (CSTAR_SCHEME, STANDARD_SCHEME)
ORDERINGS = ("none", "fifo")
FIFO = "fifo"
HEADERS_MAX = 20
HEADER_NAME_MAX = 100
HEADER_VALUE_MAX = 4096
RATE_LIMIT_MAX = 10_000
TIMEOUT_MIN = 1
TIMEOUT_MAX = 30

#: Header names the platform sets itself, refused as custom headers (lower case).
RESERVED_HEADERS = frozenset(
    {
        "x-signature",
        "x-webhook-id",
        "x-timestamp",
        "x-delivery-attempt",
        "user-agent",
        "content-type",
        "content-length",
        "content-encoding",
        "host",
        # Hop-by-hop (RFC 9110 section 7.6.1) and framing headers.
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
RESERVED_PREFIXES = ("webhook-", "x-event-", "x-cstar-")
#: An HTTP field name (RFC 9110 ``token``).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def clean_scheme(value: str) -> str:
    if value not in SIGNATURE_SCHEMES:
        raise InvalidParameter(
            "signatureScheme",
            f"signatureScheme must be one of: {', '.join(SIGNATURE_SCHEMES)}",
        )
    return value


def clean_ordering(value: str) -> str:
    if value not in ORDERINGS:
        raise InvalidParameter("ordering", f"ordering must be one of: {', '.join(ORDERINGS)}")
    return value


def _bounded(param: str, value: int | None, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(param, f"{param} must be an integer from {low} to {high}, or null")
    return value


def clean_rate_limit(value: int | None) -> int | None:
    """Deliveries per second at most; ``None``: no limit."""
    return _bounded("rateLimit", value, 1, RATE_LIMIT_MAX)


def clean_timeout(value: int | None) -> int | None:
    """Seconds a delivery may take; ``None``: the server's delivery timeout."""
    return _bounded("timeoutSeconds", value, TIMEOUT_MIN, TIMEOUT_MAX)


def is_reserved_header(name: str) -> bool:
    lower = name.lower()
    return lower in RESERVED_HEADERS or lower.startswith(RESERVED_PREFIXES)


def headers_to_json(headers: Mapping[str, str]) -> str:
    """Custom headers as the JSON object that is encrypted and stored."""
    return orjson.dumps(dict(headers)).decode()


def headers_from_json(text: str) -> dict[str, str]:
    """Custom headers from their stored (decrypted) JSON object."""
    return {str(name): str(value) for name, value in orjson.loads(text).items()}


def clean_headers(value: Mapping[str, str]) -> dict[str, str]:
    """Custom headers sent with every delivery: valid names and values, none the platform sets,
    no name twice (whatever its case)."""
    if len(value) > HEADERS_MAX:
        raise InvalidParameter("headers", f"headers may hold at most {HEADERS_MAX} entries")
    cleaned: dict[str, str] = {}
    seen: set[str] = set()
    for name, raw in value.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name) or len(name) > HEADER_NAME_MAX:
            raise InvalidParameter(
                "headers",
                f"header names must be 1 to {HEADER_NAME_MAX} characters of letters, digits and "
                f"!#$%&'*+.^_`|~-: {str(name)[:HEADER_NAME_MAX]!r}",
            )
        if is_reserved_header(name):
            raise InvalidParameter(
                "headers", f"{name} is set by cStar itself and cannot be a custom header"
            )
        if name.lower() in seen:
            raise InvalidParameter("headers", f"{name} is given twice")
        if not isinstance(raw, str):
            raise InvalidParameter("headers", f"the value of {name} must be a string")
        text = raw.strip(" \t")
        if len(text) > HEADER_VALUE_MAX:
            raise InvalidParameter(
                "headers", f"the value of {name} must be at most {HEADER_VALUE_MAX} characters"
            )
        if any(not (" " <= ch <= "~" or ch == "\t") for ch in text):
            raise InvalidParameter(
                "headers", f"the value of {name} must be printable ASCII (no control characters)"
            )
        seen.add(name.lower())
        cleaned[name] = text
    return cleaned
