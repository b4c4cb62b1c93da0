"""``cstar logs [--method POST] [--status 4xx] [--tail]``: the API requests the server recorded."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cstar.cli.client.common import (
    ApiKeyFlag,
    BaseUrlFlag,
    Globals,
    JsonFlag,
    NoColorFlag,
    interrupted_by_sigterm,
    reports_errors,
)
from cstar.cli.client.output import Output, esc
from cstar.sdk import CStarClient, RequestLog

#: Seconds between polls while following the log.
TAIL_INTERVAL = 1.0


def _show(out: Output, entry: RequestLog) -> None:
    if out.as_json:
        out.json(entry.to_dict())
        return
    colour = "green" if entry.status < 400 else ("yellow" if entry.status < 500 else "red")
    when = entry.created_at.strftime("%Y-%m-%d %H:%M:%S")
    out.line(
        f"{when}  {esc(entry.method):<6} [{colour}]{entry.status}[/]  {esc(entry.path)}  "
        f"{entry.duration_ms} ms  {esc(entry.request_id or '')}  {esc(entry.key_prefix or '')}"
    )


@reports_errors
def logs(
    method: Annotated[
        str | None, typer.Option("--method", help="Only this HTTP method (GET, POST, ...).")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="A status (404) or a class (2xx, 4xx, 5xx).")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100, help="How many recent requests to show.")
    ] = 20,
    tail: Annotated[
        bool, typer.Option("--tail", help="Keep following new requests (Ctrl-C to stop).")
    ] = False,
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """Show (and with --tail, follow) the team's API request log."""
    g = Globals(as_json, api_key, base_url, no_color)
    out = g.output
    with g.client() as client:
        recent = client.logs.list(method=method, status=status, limit=limit).data
        for entry in reversed(recent):  # oldest first, as a log reads
            _show(out, entry)
        if not tail:
            return
        last = recent[0].id if recent else _newest(client)
        if not as_json:
            out.note("[dim]Following new requests (Ctrl-C to stop)...[/]")
        try:
            with interrupted_by_sigterm():
                while True:
                    time.sleep(TAIL_INTERVAL)
                    for entry in client.logs.list(method=method, status=status, after=last):
                        _show(out, entry)
                        last = max(last, entry.id)
        except KeyboardInterrupt:
            return


def _newest(client: CStarClient) -> int:
    """The id to follow from when no entry matched the filters yet: the newest of any kind."""
    entries = client.logs.list(limit=1).data
    return entries[0].id if entries else 0
