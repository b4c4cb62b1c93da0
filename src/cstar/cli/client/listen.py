"""``cstar listen --forward-to URL``: every live event of the team, forwarded to a local server.

Like ``stripe listen``: the command subscribes to the realtime stream and POSTs each event's
envelope, byte for byte, to the local URL with the production delivery headers plus the
``cstar-signature`` alias, signed with a secret made for this session (printed when it is
ready). The local server being down is reported and skipped; the stream dropping is survived
(the SDK reconnects and resumes after the last event, so nothing is lost or repeated).
"""

from __future__ import annotations

import logging
import secrets
import string
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
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
from cstar.cli.session import CliError
from cstar.delivery_headers import delivery_headers
from cstar.sdk import RealtimeEvent
from cstar.sdk._stream import parse_patterns

LISTEN_WEBHOOK_ID = "whk_cli_listen"
FORWARD_TIMEOUT = 10.0
_ALPHABET = string.ascii_letters + string.digits


def session_secret() -> str:
    """A ``whsec_`` secret for this session only (40 base62 characters, like the server's)."""
    return "whsec_" + "".join(secrets.choice(_ALPHABET) for _ in range(40))


def forward_headers(event: RealtimeEvent, secret: str, now: datetime) -> dict[str, str]:
    headers = delivery_headers(
        body=event.raw.encode("utf-8"),
        secrets=[secret],
        event_id=event.id,
        event_type=event.type,
        webhook_id=LISTEN_WEBHOOK_ID,
        attempt=1,
        request_id=None,
        now=now,
        user_agent="cStar-Webhooks/1.0 (cstar listen)",
    )
    headers["cstar-signature"] = headers["X-Signature"]
    return headers


def forward(http: httpx.Client, url: str, event: RealtimeEvent, secret: str) -> dict[str, Any]:
    """POST one event; what happened, as one record."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    record: dict[str, Any] = {
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": event.type,
        "id": event.id,
        "status": None,
        "durationMs": None,
        "error": None,
    }
    try:
        response = http.post(
            url, content=event.raw.encode("utf-8"), headers=forward_headers(event, secret, now)
        )
    except httpx.TimeoutException:
        record["error"] = f"timed out after {FORWARD_TIMEOUT:g}s"
    except httpx.RequestError as exc:
        record["error"] = _reason(exc)
    else:
        record["status"] = response.status_code
    record["durationMs"] = round((time.perf_counter() - started) * 1000)
    return record


def _reason(exc: httpx.RequestError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused (is your server running?)"
    return str(exc) or type(exc).__name__


def _show(out: Output, record: dict[str, Any]) -> None:
    if out.as_json:
        out.json(record)
        return
    clock = record["time"][11:19]
    if record["error"]:
        outcome = f"[red]{esc(record['error'])}[/]"
    else:
        status = int(record["status"])
        colour = "green" if 200 <= status < 300 else "red"
        outcome = f"[{colour}]{status}[/] in {record['durationMs']} ms"
    out.line(f"{clock}  [bold]{esc(record['type'])}[/]  {esc(record['id'])}  → {outcome}")


class _StreamNotes(logging.Handler):
    """The SDK's 'stream dropped, reconnecting' messages, shown on stderr."""

    def __init__(self, out: Output) -> None:
        super().__init__(logging.INFO)
        self._out = out

    def emit(self, record: logging.LogRecord) -> None:
        self._out.note(f"[dim]{esc(record.getMessage())}[/]")


@reports_errors
def listen(
    forward_to: Annotated[
        str,
        typer.Option(
            "--forward-to", help="Your local endpoint, such as http://localhost:3000/webhooks."
        ),
    ],
    events: Annotated[
        str,
        typer.Option("--events", help="Event types or wildcards, comma-separated."),
    ] = "*",
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """Forward the team's live events (trigger-test ones included) to a local server."""
    g = Globals(as_json, api_key, base_url, no_color)
    out = g.output
    if not forward_to.startswith(("http://", "https://")):
        raise CliError("--forward-to must be an http:// or https:// URL")
    try:
        patterns = parse_patterns(events)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    secret = session_secret()
    notes = _StreamNotes(out)
    sdk_log = logging.getLogger("cstar.sdk.realtime")
    sdk_log.addHandler(notes)
    sdk_log.setLevel(logging.INFO)
    counter = [0]
    try:
        with g.client() as client, httpx.Client(timeout=FORWARD_TIMEOUT) as http:
            with out.waiting("Connecting to the event stream..."):
                client.status()  # a bad key or an unreachable server fails here, at once

                def handle(event: RealtimeEvent) -> None:
                    _show(out, forward(http, forward_to, event, secret))
                    counter[0] += 1

                subscription = client.realtime.on(patterns or None, handle)
                subscription.wait_ready()
            if subscription.error is not None:
                raise subscription.error
            _announce(out, secret, forward_to, patterns, client.team_id)
            try:
                with interrupted_by_sigterm():
                    while not subscription.join(0.5):
                        pass
            except KeyboardInterrupt:
                subscription.close()
            if subscription.error is not None:
                raise subscription.error
    finally:
        sdk_log.removeHandler(notes)
    if not as_json:
        out.line(f"\nStopped after forwarding {counter[0]} event(s).")


def _announce(
    out: Output, secret: str, forward_to: str, patterns: tuple[str, ...], team_id: str
) -> None:
    which = ", ".join(patterns) if patterns else "all events"
    if out.as_json:
        out.json({"ready": True, "secret": secret, "forwardTo": forward_to, "events": which})
        return
    out.line(
        f"[green]Ready![/] Forwarding {esc(which)} of team {esc(team_id)} to {esc(forward_to)}"
    )
    out.line(f"Your webhook signing secret for this session is [bold]{esc(secret)}[/] (^C to quit)")
