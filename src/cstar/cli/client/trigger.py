"""``cstar trigger EVENT``: fire a test event (seed 002's trigger-test)."""

from __future__ import annotations

from typing import Annotated

import typer

from cstar.cli.client.common import (
    ApiKeyFlag,
    BaseUrlFlag,
    Globals,
    JsonFlag,
    NoColorFlag,
    reports_errors,
)
from cstar.cli.client.output import esc


@reports_errors
def trigger(
    event: Annotated[str, typer.Argument(help="The event type, such as ticket.created.")],
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """Fire a test event to every subscribed webhook and every listen session."""
    g = Globals(as_json, api_key, base_url, no_color)
    out = g.output
    with g.client() as client:
        with out.waiting(f"Triggering {event}..."):
            result = client.webhooks.trigger_test(event)
        urls = {w.id: w.url for w in client.webhooks.list()} if result.deliveries else {}
    if as_json:
        out.json(result.to_dict())
        return
    out.line(f"Triggered [bold]{esc(result.event)}[/] ({esc(result.event_id)}), a test event.")
    if not result.deliveries:
        out.line("No active webhook is subscribed to it; `cstar listen` sessions still get it.")
        return
    out.line(f"Queued for {result.delivered_to} webhook(s):")
    for queued in result.deliveries:
        url = urls.get(queued.webhook_id, "")
        out.line(f"  {esc(queued.webhook_id)}  {esc(url)}  (delivery {esc(queued.delivery_id)})")
