"""Events, deliveries and attempts: what is published, owed to each endpoint, and tried."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cstar.server.domain.clock import iso_z
from cstar.server.domain.ids import random_base62


class DeliveryStatus(StrEnum):
    #: Due at ``next_attempt_at``; claimable when no live lease holds it.
    PENDING = "pending"
    #: Its webhook is inactive: it waits, and resumes when the webhook is re-enabled.
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    #: Every attempt of the retry schedule failed (or the endpoint answered 410 Gone).
    FAILED = "failed"


_DELIVERY_ID = re.compile(r"dlv_[0-9A-Za-z]{12,40}")


def new_event_id(event_type: str, created_at: datetime) -> str:
    """``evt_<type with _>_<unix ms>_<8 chars>``, the form of seed 001."""
    millis = int(created_at.timestamp() * 1000)
    return f"evt_{event_type.replace('.', '_')}_{millis}_{random_base62(8)}"


def new_delivery_id() -> str:
    return "dlv_" + random_base62(24)


def is_delivery_id(value: str) -> bool:
    return _DELIVERY_ID.fullmatch(value) is not None


def envelope(
    *, event_id: str, event_type: str, created_at: datetime, team_id: str, data: Any
) -> dict[str, Any]:
    """The body of every delivery: ``{id, type, created_at, team_id, data}`` (seed 001)."""
    return {
        "id": event_id,
        "type": event_type,
        "created_at": iso_z(created_at),
        "team_id": team_id,
        "data": data,
    }


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "team"


def with_dashboard_url(
    event_type: str, data: Any, *, dashboard_base_url: str, team_slug: str
) -> Any:
    """Ticket events carry ``data.ticket.dashboard_url``; add it when the publisher did not."""
    if not event_type.startswith("ticket.") or not isinstance(data, dict):
        return data
    ticket = data.get("ticket")
    if not isinstance(ticket, dict) or "dashboard_url" in ticket or "id" not in ticket:
        return data
    base = dashboard_base_url.rstrip("/")
    url = f"{base}/team/{team_slug}/tickets?selected={ticket['id']}"
    return {**data, "ticket": {**ticket, "dashboard_url": url}}


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    team_id: str
    type: str
    #: The exact JSON body every delivery of this event sends.
    payload: str
    request_id: str | None
    is_test: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    team_id: str
    event_id: str
    webhook_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    retry_index: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: str
    webhook_id: str
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    success: bool
    error: str | None
    url: str
    request_headers: dict[str, str]
    response_body: str | None
