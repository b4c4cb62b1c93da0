"""What one attempt's result means: its log row, and for its delivery done, retry when, or give
up."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cstar.server.dispatch.retry import RetryPolicy, parse_retry_after
from cstar.server.dispatch.sender import SendResult
from cstar.server.domain.deliveries import Attempt, DeliveryStatus

#: Statuses whose ``Retry-After`` is honoured.
_RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: datetime | None
    retry_index: int
    deactivate_reason: str | None = None


def decide(
    result: SendResult,
    *,
    retry_index: int,
    policy: RetryPolicy,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """``retry_index`` counts the attempts of this round before this one."""
    index = retry_index + 1
    if result.success:
        return Decision(DeliveryStatus.SUCCEEDED, None, index)
    if result.status_code == 410:
        return Decision(DeliveryStatus.FAILED, None, index, "The endpoint answered 410 Gone")
    retry_after = None
    if result.status_code in _RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(result.retry_after, now)
    delay = policy.next_delay(index, retry_after=retry_after, rand=rand)
    if delay is None:
        return Decision(DeliveryStatus.FAILED, None, index)
    return Decision(DeliveryStatus.PENDING, now + timedelta(seconds=delay), index)


def not_sent(error: Exception, *, duration_ms: int) -> SendResult:
    """The result of an attempt that raised before or while sending (a secret that does not
    decrypt, a bug): a failure like any other, with the error."""
    return SendResult(
        status_code=None,
        duration_ms=duration_ms,
        response_body=None,
        error=f"the request could not be made: {type(error).__name__}: {error}",
    )


#: What the attempt log shows for a custom header's value: they may hold credentials.
REDACTED = "[redacted]"


def redacted(headers: Mapping[str, str], custom: Mapping[str, str]) -> dict[str, str]:
    """The headers as logged: the custom headers' values hidden."""
    if not custom:
        return dict(headers)
    return {name: REDACTED if name in custom else value for name, value in headers.items()}


def attempt_record(
    result: SendResult,
    *,
    delivery_id: str,
    webhook_id: str,
    number: int,
    started_at: datetime,
    url: str,
    headers: dict[str, str],
) -> Attempt:
    """The log row of one attempt: what was sent and how it was answered."""
    return Attempt(
        delivery_id=delivery_id,
        webhook_id=webhook_id,
        attempt=number,
        started_at=started_at,
        duration_ms=result.duration_ms,
        status_code=result.status_code,
        success=result.success,
        error=result.error,
        url=url,
        request_headers=headers,
        response_body=result.response_body,
    )
