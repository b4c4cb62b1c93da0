"""Publishing events: validate, build the envelope once, store and fan out, wake a worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from cstar import events as catalog
from cstar.server.dispatch.wakeup import Waker
from cstar.server.domain.clock import Clock
from cstar.server.domain.deliveries import (
    Event,
    envelope,
    new_event_id,
    slugify,
    with_dashboard_url,
)
from cstar.server.domain.errors import InvalidParameter, MissingParameter
from cstar.server.domain.text import has_control_characters
from cstar.server.store.contract import BatchPublish, DeliveryStore, PublishOutcome, Store

IDEMPOTENCY_WINDOW = timedelta(hours=24)
IDEMPOTENCY_KEY_MAX = 255
#: Objects and arrays ``data`` may nest (orjson serialises at most 254 levels; the envelope
#: around ``data`` is one of them).
DATA_DEPTH_MAX = 253


#: The most events one batch publishes.
BATCH_MAX = 100

#: One event of a batch: its type, its ``data`` and its idempotency key, if any.
BatchEntry = tuple[str, Any, str | None]


def _in_batch(
    exc: InvalidParameter | MissingParameter, index: int
) -> InvalidParameter | MissingParameter:
    """The same refusal, its ``param`` placed at item ``index`` of ``events``."""
    where = f"events[{index}]"
    param = f"{where}.{exc.param}" if exc.param else where
    message = f"{where}: {exc}"
    if isinstance(exc, MissingParameter):
        return MissingParameter(param, message)
    return InvalidParameter(param, message)


def check_publish(
    event_type: str, data: Any, idempotency_key: str | None, *, type_param: str = "type"
) -> None:
    """What one publish must be, alone or as an item of a batch."""
    require_event_type(event_type, param=type_param)
    if not isinstance(data, dict):
        raise InvalidParameter("data", "data must be a JSON object")
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)


def check_idempotency_key(key: str) -> None:
    if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX:
        raise InvalidParameter(
            "idempotencyKey", f"idempotencyKey must be 1 to {IDEMPOTENCY_KEY_MAX} characters"
        )
    if has_control_characters(key):
        raise InvalidParameter(
            "idempotencyKey", "idempotencyKey must not contain control characters"
        )


def require_event_type(name: str, *, param: str) -> str:
    if not catalog.is_known_event(name):
        raise InvalidParameter(param, f"Unknown event type: {name}")
    return name


class EventService:
    def __init__(
        self,
        store: Store,
        deliveries: DeliveryStore,
        waker: Waker,
        clock: Clock,
        *,
        dashboard_base_url: str,
        published: Waker | None = None,
        on_published: Callable[[int], None] | None = None,
    ) -> None:
        """``waker``: idle dispatchers (work was queued); ``published``: this process's
        realtime streams (an event was stored); ``on_published``: told how many events were
        stored (the metrics)."""
        self._on_published = on_published
        self._store = store
        self._deliveries = deliveries
        self._waker = waker
        self._published = published
        self._clock = clock
        self._dashboard = dashboard_base_url
        self._slugs: dict[str, str] = {}

    async def _team_slug(self, team_id: str) -> str:
        slug = self._slugs.get(team_id)
        if slug is None:
            team = await self._store.get_team(team_id)
            slug = slugify(team.name) if team is not None else "team"
            if len(self._slugs) > 10_000:
                self._slugs.clear()
            self._slugs[team_id] = slug
        return slug

    async def publish(
        self,
        team_id: str,
        event_type: str,
        data: Any,
        *,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        is_test: bool = False,
        param: str = "type",
    ) -> PublishOutcome:
        check_publish(event_type, data, idempotency_key, type_param=param)
        now = self._clock()
        event = await self.build_event(
            team_id, event_type, data, request_id=request_id, is_test=is_test, now=now
        )
        outcome = await self._deliveries.publish(
            event,
            patterns=catalog.patterns_matching(event_type),
            idempotency_key=idempotency_key,
            idempotency_since=now - IDEMPOTENCY_WINDOW,
            now=now,
        )
        if not outcome.replayed:
            self.announce(1)
            if outcome.queued:
                self._waker.wake()
        return outcome

    async def publish_batch(
        self, team_id: str, entries: Sequence[BatchEntry], *, request_id: str | None = None
    ) -> list[PublishOutcome]:
        """Publish up to ``BATCH_MAX`` events in one transaction, all or nothing: an item that
        would be refused alone refuses the whole batch, with a ``param`` that names it
        (``events[3].type``)."""
        if not 1 <= len(entries) <= BATCH_MAX:
            raise InvalidParameter("events", f"events must hold 1 to {BATCH_MAX} events")
        now = self._clock()
        items: list[BatchPublish] = []
        for index, entry in enumerate(entries):
            event_type, data, key = entry
            try:
                check_publish(event_type, data, key)
                event = await self.build_event(
                    team_id, event_type, data, request_id=request_id, is_test=False, now=now
                )
            except (InvalidParameter, MissingParameter) as exc:
                raise _in_batch(exc, index) from None
            items.append((event, catalog.patterns_matching(event_type), now, key))
        outcomes = await self._deliveries.publish_batch(
            items, idempotency_since=now - IDEMPOTENCY_WINDOW
        )
        stored = sum(not o.replayed for o in outcomes)
        if stored:
            self.announce(stored)
            if any(o.queued for o in outcomes if not o.replayed):
                self._waker.wake()
        return outcomes

    def announce(self, stored: int) -> None:
        """Events were stored in this process: streams need not wait for their next poll."""
        if self._on_published is not None:
            self._on_published(stored)
        if self._published is not None:
            self._published.wake()

    async def build_event(
        self,
        team_id: str,
        event_type: str,
        data: dict[str, Any],
        *,
        request_id: str | None,
        is_test: bool,
        now: datetime,
    ) -> Event:
        """The event with its envelope serialised once: the exact body every delivery sends."""
        event_id = new_event_id(event_type, now)
        data = with_dashboard_url(
            event_type,
            data,
            dashboard_base_url=self._dashboard,
            team_slug=await self._team_slug(team_id),
        )
        body = envelope(
            event_id=event_id, event_type=event_type, created_at=now, team_id=team_id, data=data
        )
        try:
            payload = orjson.dumps(body).decode("utf-8")
        except orjson.JSONEncodeError as exc:
            if "recursion" not in str(exc).lower():
                raise
            raise InvalidParameter(
                "data", f"data must not nest more than {DATA_DEPTH_MAX} levels of objects or arrays"
            ) from None
        return Event(
            id=event_id,
            team_id=team_id,
            type=event_type,
            payload=payload,
            request_id=request_id,
            is_test=is_test,
            created_at=now,
        )

    async def sample(self, team_id: str, event_type: str, *, now: datetime) -> dict[str, Any]:
        """A realistic ``data`` for ``event_type`` (an unknown type is a 400 on ``event``)."""
        require_event_type(event_type, param="event")
        return catalog.sample_data(
            event_type,
            team_slug=await self._team_slug(team_id),
            dashboard_base_url=self._dashboard,
            now=now,
        )

    async def trigger_test(
        self, team_id: str, event_type: str, *, request_id: str | None
    ) -> PublishOutcome:
        """A sample of ``event_type`` to every active webhook subscribed to it (seed 002)."""
        sample = await self.sample(team_id, event_type, now=self._clock())
        return await self.publish(
            team_id, event_type, sample, request_id=request_id, is_test=True, param="event"
        )
