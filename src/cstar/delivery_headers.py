"""The headers of one delivery attempt, exactly as the contract fixes them: used by the
dispatcher and by ``cstar listen`` (which forwards with the same headers). Standard library
only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from cstar.webhook import generate_header, generate_standard_headers

USER_AGENT = "cStar-Webhooks/1.0"
#: The signature schemes a webhook may use: cStar's ``X-Signature``, or Standard Webhooks'.
CSTAR_SCHEME = "cstar"
STANDARD_SCHEME = "standard-webhooks"
SIGNATURE_SCHEMES = (CSTAR_SCHEME, STANDARD_SCHEME)


def delivery_headers(
    *,
    body: bytes,
    secrets: Sequence[str],
    event_id: str,
    event_type: str,
    webhook_id: str,
    attempt: int,
    request_id: str | None,
    now: datetime,
    user_agent: str = USER_AGENT,
    scheme: str = CSTAR_SCHEME,
    custom: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers of one attempt, signed afresh with this attempt's time.

    ``X-Signature: t=<unix>,v1=<hex>`` signs ``"{t}.{body}"`` with each valid secret (two during
    a rotation's grace period); ``X-Timestamp`` is the same moment in ISO 8601. With the
    Standard Webhooks scheme ``webhook-id`` (the event id), ``webhook-timestamp`` and
    ``webhook-signature`` (one ``v1,<base64>`` per valid secret) replace ``X-Signature``.
    ``custom`` are the webhook's own headers (names cStar sets are refused when they are saved).
    """
    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": user_agent}
    if scheme == STANDARD_SCHEME:
        headers.update(
            generate_standard_headers(body, secrets, msg_id=event_id, timestamp=timestamp)
        )
    elif scheme == CSTAR_SCHEME:
        headers["X-Signature"] = generate_header(body, secrets, timestamp=timestamp)
    else:
        raise ValueError(f"unknown signature scheme: {scheme!r}")
    headers |= {
        "X-Event-Type": event_type,
        "X-Event-ID": event_id,
        "X-Webhook-ID": webhook_id,
        "X-Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "X-Delivery-Attempt": str(attempt),
    }
    if request_id:
        headers["x-cstar-request-id"] = request_id
    if custom:
        headers.update(custom)
    return headers
