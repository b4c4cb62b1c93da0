"""Verify cStar webhook deliveries (standard library only).

Every delivery carries ``X-Signature: t=<unix>,v1=<hex>`` where ``v1`` is the hex HMAC-SHA256,
keyed with your whole ``whsec_...`` secret, of ``"{t}.{raw body}"``. During a secret rotation a
header carries one ``v1`` per valid secret; any match passes. The legacy ``sha256=<hex>`` form
(an HMAC of the raw body alone, with no timestamp and so no replay protection) is still accepted.

    from cstar.webhook import construct_event, WebhookSignatureVerificationError

    try:
        event = construct_event(request_body_bytes, headers["X-Signature"], SECRET)
    except WebhookSignatureVerificationError:
        return 401
    print(event.type, event.data)

Webhooks set to the Standard Webhooks scheme (``signatureScheme: "standard-webhooks"``) carry
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64>`` instead, signed with
the base64 key after ``whsec_``; pass all the request's headers and either scheme is verified:

    event = construct_event(request_body_bytes, request.headers, SECRET)

Check the signature on the raw bytes you received, before parsing them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_TOLERANCE",
    "SECRET_PREFIX",
    "WebhookEvent",
    "WebhookSignatureVerificationError",
    "compute_signature",
    "compute_standard_signature",
    "construct_event",
    "generate_header",
    "generate_standard_headers",
    "standard_key",
    "verify_header",
    "verify_signature",
    "verify_standard_headers",
]

#: Seconds a signature's timestamp may differ from now, in either direction.
DEFAULT_TOLERANCE = 300
_MAX_HEADER_LENGTH = 8192
#: More digits than any Unix time in seconds needs; longer values are rejected before ``int()``
#: (which refuses over 4300 digits) and float arithmetic (which overflows) could fail on them.
_MAX_TIMESTAMP_DIGITS = 18
#: What every signing secret starts with.
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: The Standard Webhooks key: base64 of 24 to 64 bytes after the prefix.
_STANDARD_KEY_BYTES = (24, 64)
_MAX_MESSAGE_ID_LENGTH = 256


class WebhookSignatureVerificationError(Exception):
    """The signature header is missing, malformed, too old or too new, or matches no secret."""

    def __init__(self, message: str, sig_header: str | None = None, payload: bytes = b"") -> None:
        super().__init__(message)
        self.sig_header = sig_header
        self.payload = payload


class WebhookEvent(dict[str, Any]):
    """A verified event: a ``dict`` whose keys are also attributes (``event.type``,
    ``event.data.ticket.id``), recursively."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def wrap(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return cls({k: cls.wrap(v) for k, v in value.items()})
        if isinstance(value, list):
            return [cls.wrap(v) for v in value]
        return value


def _as_bytes(payload: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    raise TypeError(f"payload must be bytes or str, not {type(payload).__name__}")


def compute_signature(payload: bytes | str, secret: str, timestamp: int) -> str:
    """The ``v1`` value: hex HMAC-SHA256 of ``"{timestamp}.{payload}"`` keyed with ``secret``."""
    message = str(int(timestamp)).encode("ascii") + b"." + _as_bytes(payload)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def generate_header(
    payload: bytes | str,
    secret: str | Iterable[str],
    *,
    timestamp: int | None = None,
) -> str:
    """A valid ``X-Signature`` value for ``payload``: for your own tests, and the dispatcher's.

    With several secrets (a rotation), the header carries one ``v1`` per secret.
    """
    moment = int(time.time()) if timestamp is None else int(timestamp)
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("at least one secret is required")
    body = _as_bytes(payload)
    return f"t={moment}," + ",".join(f"v1={compute_signature(body, k, moment)}" for k in keys)


def _parse(sig_header: str, payload: bytes) -> tuple[int | None, list[str], list[str]]:
    """``(timestamp, v1 signatures, legacy sha256 signatures)`` of a header."""
    if not isinstance(sig_header, str) or not sig_header.strip():
        raise WebhookSignatureVerificationError("No signature header", sig_header, payload)
    if len(sig_header) > _MAX_HEADER_LENGTH:
        raise WebhookSignatureVerificationError("Signature header too long", sig_header, payload)
    timestamp: int | None = None
    v1: list[str] = []
    legacy: list[str] = []
    for part in sig_header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureVerificationError(
                "Malformed signature header: expected key=value pairs", sig_header, payload
            )
        key, value = key.strip(), value.strip()
        if key == "t":
            if not _is_timestamp(value) or timestamp is not None:
                raise WebhookSignatureVerificationError(
                    "Malformed signature header: bad timestamp", sig_header, payload
                )
            timestamp = int(value)
        elif key == "v1":
            v1.append(value)
        elif key == "sha256":
            legacy.append(value)
        # Unknown schemes (v0, future versions) are ignored, as Stripe's verifier does.
    return timestamp, v1, legacy


def _is_timestamp(value: str) -> bool:
    """Whole Unix seconds in ASCII digits, short enough to convert safely."""
    return value.isascii() and value.isdigit() and len(value) <= _MAX_TIMESTAMP_DIGITS


def _matches(expected: str, candidates: Iterable[str], *, fold_case: bool = True) -> bool:
    """Whether any candidate is ``expected``, each compared in constant time (hex folds case;
    base64 does not)."""
    found = False
    for candidate in candidates:
        # compare_digest needs ASCII strings; non-ASCII input can never match a digest.
        if candidate.isascii() and hmac.compare_digest(
            expected, candidate.lower() if fold_case else candidate
        ):
            found = True
    return found


def _check_time(
    timestamp: int, tolerance: float, now: float | None, sig_header: str | None, body: bytes
) -> None:
    """Refuse a signature whose time is more than ``tolerance`` seconds from now, either way."""
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureVerificationError(
            "Timestamp outside the tolerance zone", sig_header, body
        )


def verify_header(
    payload: bytes | str,
    sig_header: str,
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise :class:`WebhookSignatureVerificationError` unless ``sig_header`` signs ``payload``.

    The timestamp must be within ``tolerance`` seconds of now, in the past or the future.
    """
    if not tolerance > 0:
        raise ValueError("tolerance must be a positive number of seconds")
    body = _as_bytes(payload)
    timestamp, v1, legacy = _parse(sig_header, body)
    if v1:
        if timestamp is None:
            raise WebhookSignatureVerificationError(
                "Malformed signature header: v1 without a timestamp", sig_header, body
            )
        if not _matches(compute_signature(body, secret, timestamp), v1):
            raise WebhookSignatureVerificationError(
                "No signature matches the expected signature for the payload", sig_header, body
            )
        _check_time(timestamp, tolerance, now, sig_header, body)
        return
    if legacy:
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        if not _matches(digest, legacy):
            raise WebhookSignatureVerificationError(
                "No signature matches the expected signature for the payload", sig_header, body
            )
        return
    raise WebhookSignatureVerificationError(
        "No signatures found with expected scheme (v1 or sha256)", sig_header, body
    )


def verify_signature(
    payload: bytes | str,
    sig_header: str,
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """``True`` when the header signs the payload, ``False`` otherwise (never raises for input)."""
    try:
        verify_header(payload, sig_header, secret, tolerance=tolerance)
    except WebhookSignatureVerificationError:
        return False
    return True


# -- Standard Webhooks (https://www.standardwebhooks.com) -----------------------------------------


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64 after ``whsec_``, decoded.

    Raises ``ValueError`` unless it is valid base64 of 24 to 64 bytes.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from None
    low, high = _STANDARD_KEY_BYTES
    if not low <= len(key) <= high:
        raise ValueError(
            f"a Standard Webhooks key is {low} to {high} bytes; this one is {len(key)}"
        )
    return key


def compute_standard_signature(
    payload: bytes | str, secret: str, *, msg_id: str, timestamp: int
) -> str:
    """Base64 HMAC-SHA256 of ``"{msg_id}.{timestamp}.{payload}"`` keyed with the decoded key."""
    message = f"{msg_id}.{int(timestamp)}.".encode() + _as_bytes(payload)
    digest = hmac.new(standard_key(secret), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def generate_standard_headers(
    payload: bytes | str,
    secret: str | Iterable[str],
    *,
    msg_id: str,
    timestamp: int | None = None,
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for ``payload``; with
    several secrets (a rotation) the signature holds one space-separated ``v1,`` entry each."""
    moment = int(time.time()) if timestamp is None else int(timestamp)
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("at least one secret is required")
    body = _as_bytes(payload)
    signatures = " ".join(
        "v1," + compute_standard_signature(body, k, msg_id=msg_id, timestamp=moment) for k in keys
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(moment),
        "webhook-signature": signatures,
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """``name``'s value in ``headers``, whatever the case of the keys."""
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if isinstance(key, str) and key.lower() == name:
                value = candidate
                break
    return value if isinstance(value, str) else None


def verify_standard_headers(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise :class:`WebhookSignatureVerificationError` unless the Standard Webhooks headers
    sign ``payload`` with ``secret`` (``whsec_`` and base64) within ``tolerance`` seconds."""
    if not tolerance > 0:
        raise ValueError("tolerance must be a positive number of seconds")
    body = _as_bytes(payload)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signature = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not signature:
        raise WebhookSignatureVerificationError(
            "Missing webhook-id, webhook-timestamp or webhook-signature header", signature, body
        )
    if len(signature) > _MAX_HEADER_LENGTH or len(msg_id) > _MAX_MESSAGE_ID_LENGTH:
        raise WebhookSignatureVerificationError("Signature header too long", signature, body)
    if not _is_timestamp(stamp):
        raise WebhookSignatureVerificationError(
            "Malformed webhook-timestamp header", signature, body
        )
    timestamp = int(stamp)
    expected = compute_standard_signature(body, secret, msg_id=msg_id, timestamp=timestamp)
    # Entries of other versions (v1a: asymmetric) are skipped, as the specification says.
    entries = (entry.partition(",") for entry in signature.split(" "))
    v1 = [value for version, sep, value in entries if sep and version == "v1"]
    if not _matches(expected, v1, fold_case=False):
        raise WebhookSignatureVerificationError(
            "No signature matches the expected signature for the payload", signature, body
        )
    _check_time(timestamp, tolerance, now, signature, body)


def construct_event(
    payload: bytes | str,
    sig_header: str | Mapping[str, str],
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> WebhookEvent:
    """Verify, then parse: the event with key and attribute access.

    ``sig_header`` is the ``X-Signature`` value, or the request's headers (any mapping; names in
    any case): a request with ``webhook-signature`` is checked as Standard Webhooks, one with
    ``X-Signature`` as cStar's scheme.

    Raises :class:`WebhookSignatureVerificationError` for a bad signature and for a verified
    payload that is not a JSON object.
    """
    body = _as_bytes(payload)
    if not isinstance(sig_header, Mapping):
        shown: str | None = sig_header
        verify_header(body, sig_header, secret, tolerance=tolerance)
    elif (shown := _header(sig_header, "webhook-signature")) is not None:
        try:
            standard_key(secret)
        except ValueError as exc:  # a secret that is not a Standard Webhooks one
            raise WebhookSignatureVerificationError(str(exc), shown, body) from None
        verify_standard_headers(body, sig_header, secret, tolerance=tolerance)
    else:
        shown = _header(sig_header, "x-signature") or ""
        verify_header(body, shown, secret, tolerance=tolerance)
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookSignatureVerificationError("Payload is not valid JSON", shown, body) from exc
    if not isinstance(parsed, dict):
        raise WebhookSignatureVerificationError("Payload is not a JSON object", shown, body)
    event: WebhookEvent = WebhookEvent.wrap(parsed)
    return event
