"""The realtime event stream: GET /api/v1/teams/{teamId}/events/stream (server-sent events)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from cstar import events as catalog
from cstar.server.api.deps import ContainerDep, KeyDep, TeamId, responses
from cstar.server.api.sse import EventStreamResponse
from cstar.server.domain.errors import InvalidParameter
from cstar.server.realtime.stream import EventStream

router = APIRouter(prefix="/api/v1/teams/{teamId}/events", tags=["Events"])

#: ``Last-Event-ID`` is an event's number: up to 18 digits.
_MAX_ID_DIGITS = 18


def parse_types(types: str | None) -> list[str] | None:
    if types is None or not types.strip():
        return None
    patterns = [p.strip() for p in types.split(",") if p.strip()]
    for pattern in patterns:
        if not catalog.is_valid_pattern(pattern):
            raise InvalidParameter(
                "types",
                f"Unknown event type or pattern: {pattern} "
                "(use an event name, a resource wildcard such as ticket.*, or *)",
            )
    return patterns


def parse_last_event_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_ID_DIGITS:
        raise InvalidParameter(
            "Last-Event-ID", "Last-Event-ID must be the id of an event this stream sent"
        )
    return int(value)


@router.get(
    "/stream",
    summary="Stream Events",
    description=(
        "Server-sent events: every event the team publishes, test events included, as "
        "`id: <number>`, `event: <type>` and `data: <the webhook envelope>`, with a comment "
        "line as a heartbeat when idle. `types` filters by event names and wildcards "
        "(`ticket.*,customer.created`). A client that reconnects with `Last-Event-ID` first "
        "receives the events it missed (from the last 24 hours, `CSTAR_STREAM_REPLAY`), each "
        "exactly once and in order. Needs a secret key. A key may hold "
        "`CSTAR_STREAMS_PER_KEY` streams at once and a team `CSTAR_STREAMS_PER_TEAM` (429 "
        "beyond); a stream ends when its key is revoked."
    ),
    response_class=Response,
    responses=responses(200, "text/event-stream", "An endless `text/event-stream`", 400, 403),
)
async def stream_events(
    team_id: TeamId,
    caller: KeyDep,
    c: ContainerDep,
    types: Annotated[
        str | None,
        Query(
            max_length=4000,
            description="Comma-separated event names or wildcards; all events when omitted",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="The `id` of the last event received"),
    ] = None,
) -> EventStreamResponse:
    patterns = parse_types(types)
    resume_after = parse_last_event_id(last_event_id)
    subscriber, start = await c.streams.subscribe(team_id, caller.id, patterns)
    stream = EventStream(
        c.streams,
        subscriber,
        start=start,
        resume_after=resume_after,
        replay_since=c.clock() - timedelta(seconds=c.settings.stream_replay),
        heartbeat=c.settings.stream_heartbeat,
    )
    return EventStreamResponse(stream.frames(), on_close=stream.close)
