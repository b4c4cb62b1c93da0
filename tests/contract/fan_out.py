"""Which webhooks an event reaches, asked the way the platform asks it: by publishing one."""

from __future__ import annotations

from cstar import events as catalog
from cstar.server.bootstrap import Container
from cstar.server.domain.models import Webhook


async def subscribed(container: Container, team_id: str, event_type: str) -> list[Webhook]:
    """Publish an event of ``event_type`` for the team and return the webhooks its fan-out
    queued a delivery for, oldest first (ties by id)."""
    now = container.clock()
    event = await container.events.build_event(
        team_id, event_type, {}, request_id=None, is_test=False, now=now
    )
    outcome = await container.delivery_store.publish(
        event,
        patterns=catalog.patterns_matching(event_type),
        idempotency_key=None,
        idempotency_since=now,
        now=now,
    )
    found = [await container.store.get_webhook(team_id, q.webhook_id) for q in outcome.queued]
    hooks = [h for h in found if h is not None]
    assert len(hooks) == len(found), "a delivery was queued for a webhook that is gone"
    return sorted(hooks, key=lambda h: (h.created_at, h.id))
