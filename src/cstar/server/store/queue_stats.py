"""What ``/metrics`` reads of the queue and the endpoints, all processes together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cstar.server.domain.deliveries import DeliveryStatus
from cstar.server.store.base import SqlBase
from cstar.server.store.schema import deliveries, webhooks

_D = deliveries.c
_W = webhooks.c


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    #: Deliveries waiting for an attempt (due or retrying later).
    pending: int
    #: When the oldest pending delivery was created (``None``: none pending).
    oldest_pending_created_at: datetime | None
    #: The earliest due time among pending deliveries that are due now (``None``: none due).
    oldest_due_at: datetime | None
    #: Active webhooks whose latest attempts failed.
    endpoints_failing: int
    #: Webhooks the platform deactivated (410 Gone, or failing too long).
    endpoints_disabled: int


class SqlQueueStats(SqlBase):
    async def snapshot(self, now: datetime) -> QueueSnapshot:
        pending = _D.status == DeliveryStatus.PENDING.value
        # Counted through the partial index of pending deliveries (``ix_deliveries_due``).
        count = sa.select(sa.func.count()).select_from(deliveries).where(pending)
        oldest = sa.select(sa.func.min(_D.created_at)).where(pending)
        due = sa.select(sa.func.min(_D.next_attempt_at)).where(pending, _D.next_attempt_at <= now)
        failing = (
            sa.select(sa.func.count())
            .select_from(webhooks)
            .where(_W.is_active.is_(True), _W.consecutive_failures > 0)
        )
        disabled = (
            sa.select(sa.func.count())
            .select_from(webhooks)
            .where(_W.is_active.is_(False), _W.disabled_reason.is_not(None))
        )

        def work(conn: Connection) -> QueueSnapshot:
            return QueueSnapshot(
                pending=int(conn.scalar(count) or 0),
                oldest_pending_created_at=conn.scalar(oldest),
                oldest_due_at=conn.scalar(due),
                endpoints_failing=int(conn.scalar(failing) or 0),
                endpoints_disabled=int(conn.scalar(disabled) or 0),
            )

        return await self._read(work)
