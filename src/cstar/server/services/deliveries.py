"""Deliveries seen from the API: test sends, logs, resend and recover."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from cstar.server.dispatch.outcome import attempt_record, not_sent, redacted
from cstar.server.dispatch.request import delivery_headers
from cstar.server.dispatch.sender import Sender
from cstar.server.dispatch.wakeup import Waker
from cstar.server.domain.clock import Clock
from cstar.server.domain.deliveries import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    is_delivery_id,
    new_delivery_id,
)
from cstar.server.domain.errors import InvalidParameter, NotFound
from cstar.server.domain.pagination import Page, PageRequest
from cstar.server.services.events import EventService, require_event_type
from cstar.server.services.webhooks import WebhookService
from cstar.server.store.contract import DeliveryFilter, DeliveryStore

log = logging.getLogger(__name__)

NOT_FOUND = "Delivery not found"


@dataclass(frozen=True, slots=True)
class TestSendResult:
    """The answer of seed 000's ``webhooks.test``."""

    delivery_id: str
    event: str
    url: str
    success: bool
    status: int | None
    response_time_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: Delivery
    attempts: list[Attempt]
    event: Event | None


class DeliveryService:
    def __init__(
        self,
        deliveries: DeliveryStore,
        webhooks: WebhookService,
        events: EventService,
        sender: Sender,
        waker: Waker,
        clock: Clock,
    ) -> None:
        self._deliveries = deliveries
        self._webhooks = webhooks
        self._events = events
        self._sender = sender
        self._waker = waker
        self._clock = clock

    async def send_test(
        self, team_id: str, webhook_id: str, event_type: str, *, request_id: str | None
    ) -> TestSendResult:
        """Send a sample of ``event_type`` to one webhook now, log it, and answer the result.

        A test send is one attempt, without retries, and does not count towards the webhook's
        health (a failing test must not deactivate a webhook).
        """
        webhook = await self._webhooks.get(team_id, webhook_id)
        now = self._clock()
        event = await self._events.build_event(
            team_id,
            event_type,
            await self._events.sample(team_id, event_type, now=now),
            request_id=request_id,
            is_test=True,
            now=now,
        )
        body = event.payload.encode("utf-8")
        headers: dict[str, str] = {}
        began = time.perf_counter()
        try:
            headers = delivery_headers(
                body=body,
                secrets=self._webhooks.signing_secrets(webhook),
                event_id=event.id,
                event_type=event_type,
                webhook_id=webhook.id,
                attempt=1,
                request_id=request_id,
                now=now,
                scheme=webhook.signature_scheme,
                custom=webhook.headers,
            )
            result = await self._sender.send(
                webhook.url, body, headers, time_limit=webhook.timeout_seconds
            )
        except Exception as exc:  # the caller learns of it as a failed test, not a 500
            log.exception("test send to webhook %s could not be made", webhook.id)
            result = not_sent(exc, duration_ms=int((time.perf_counter() - began) * 1000))
        finished = self._clock()
        delivery = Delivery(
            id=new_delivery_id(),
            team_id=team_id,
            event_id=event.id,
            webhook_id=webhook.id,
            event_type=event_type,
            status=DeliveryStatus.SUCCEEDED if result.success else DeliveryStatus.FAILED,
            attempts=1,
            retry_index=1,
            next_attempt_at=None,
            last_status_code=result.status_code,
            last_error=result.error,
            created_at=now,
            updated_at=finished,
            completed_at=finished,
        )
        await self._deliveries.record_test_send(
            event,
            delivery,
            attempt_record(
                result,
                delivery_id=delivery.id,
                webhook_id=webhook.id,
                number=1,
                started_at=now,
                url=webhook.url,
                headers=redacted(headers, webhook.headers),
            ),
        )
        self._events.announce(1)
        return TestSendResult(
            delivery_id=delivery.id,
            event=event_type,
            url=webhook.url,
            success=result.success,
            status=result.status_code,
            response_time_ms=result.duration_ms,
            error=result.error,
        )

    async def list(
        self,
        team_id: str,
        webhook_id: str,
        *,
        status: DeliveryStatus | None,
        event_type: str | None,
        page: PageRequest,
    ) -> Page[Delivery]:
        await self._webhooks.get(team_id, webhook_id)
        if event_type is not None:
            require_event_type(event_type, param="eventType")
        return await self._deliveries.list_deliveries(
            team_id,
            DeliveryFilter(webhook_id=webhook_id, status=status, event_type=event_type),
            page,
        )

    async def get(self, team_id: str, delivery_id: str) -> DeliveryDetail:
        delivery = await self._get(team_id, delivery_id)
        attempts = await self._deliveries.list_attempts(delivery.id)
        event = await self._deliveries.get_event(team_id, delivery.event_id)
        return DeliveryDetail(delivery=delivery, attempts=attempts, event=event)

    async def _get(self, team_id: str, delivery_id: str) -> Delivery:
        if not is_delivery_id(delivery_id):
            raise NotFound(NOT_FOUND, param="deliveryId")
        delivery = await self._deliveries.get_delivery(team_id, delivery_id)
        if delivery is None:
            raise NotFound(NOT_FOUND, param="deliveryId")
        return delivery

    async def resend(self, team_id: str, delivery_id: str) -> Delivery:
        """Deliver again now, with a fresh retry schedule (same event id and body)."""
        await self._get(team_id, delivery_id)
        requeued = await self._deliveries.requeue(team_id, delivery_id, self._clock())
        if requeued is None:
            raise NotFound(NOT_FOUND, param="deliveryId")
        self._waker.wake()
        return requeued

    async def recover(self, team_id: str, webhook_id: str, since: datetime) -> int:
        await self._webhooks.get(team_id, webhook_id)
        now = self._clock()
        if since.tzinfo is None:
            raise InvalidParameter("since", "since must include a timezone (e.g. Z)")
        if since > now:
            raise InvalidParameter("since", "since must not be in the future")
        count = await self._deliveries.recover(team_id, webhook_id, since=since, now=now)
        if count:
            self._waker.wake()
        return count
