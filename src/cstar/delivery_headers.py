"""The headers of one delivery attempt, exactly as the contract fixes them: used by the
dispatcher and by ``cstar listen`` (which forwards with the same headers). Standard library
only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cstar.webhook import generate_header

USER_AGENT = "cStar-Webhooks/1.0"


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
) -> dict[str, str]:
    """Headers of one attempt, signed afresh with this attempt's time.

    ``X-Signature: t=<unix>,v1=<hex>`` signs ``"{t}.{body}"`` with each valid secret (two during
    a rotation's grace period); ``X-Timestamp`` is the same moment in ISO 8601.
    """
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "X-Signature": generate_header(body, secrets, timestamp=timestamp),
        "X-Event-Type": event_type,
        "X-Event-ID": event_id,
        "X-Webhook-ID": webhook_id,
        "X-Timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "X-Delivery-Attempt": str(attempt),
    }
    if request_id:
        headers["x-cstar-request-id"] = request_id
    return headers
