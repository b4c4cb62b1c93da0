"""Recording every ``/api/`` request of an authenticated caller in the team's request log.

Plain ASGI middleware between the request context (outside) and authentication (inside). It
notes the time a request arrives and, when the response starts, hands an entry to the recorder,
which only buffers it (see :mod:`cstar.server.services.request_log`): no request waits for the
database. Recorded: 2xx to 5xx answers of callers whose key was recognised, refusals included
(403 another team or wrong key type, 404, 400, 429 over the key's limit). Not recorded: requests
no key can be attributed to (401, the per-address limit on failed authentications, a body
refused by its declared size before authentication), and successful reads of the request log
itself, so that following it (``cstar logs --tail``) does not fill it with its own polls.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cstar.server.api.context import STATE_CALLER, request_id_of, state_of
from cstar.server.domain.clock import Clock
from cstar.server.domain.models import ApiKey
from cstar.server.domain.request_logs import RequestLogEntry, loggable_method, loggable_path
from cstar.server.services.request_log import RequestLogRecorder

_LOG_READ = re.compile(r"^/api/v1/teams/[^/]+/logs/?$")
_MAX_DURATION_MS = 2**31 - 1


def _is_log_read(method: str, path: str, status: int) -> bool:
    return method == "GET" and 200 <= status < 300 and _LOG_READ.match(path) is not None


class RequestLogMiddleware:
    def __init__(
        self, app: ASGIApp, *, recorder: Callable[[Scope], tuple[RequestLogRecorder, Clock]]
    ) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        recorder, clock = self.recorder(scope)
        arrived = clock()
        started = time.perf_counter()
        answered = False

        def record(status: int) -> None:
            key = state_of(scope).get(STATE_CALLER)
            method: str = scope.get("method", "")
            if not isinstance(key, ApiKey) or _is_log_read(method, path, status):
                return
            elapsed = round((time.perf_counter() - started) * 1000)
            recorder.record(
                RequestLogEntry(
                    team_id=key.team_id,
                    created_at=arrived,
                    method=loggable_method(method),
                    path=loggable_path(path, scope.get("query_string", b"")),
                    status=status,
                    duration_ms=min(max(elapsed, 0), _MAX_DURATION_MS),
                    request_id=request_id_of(scope),
                    key_id=key.id,
                    key_prefix=key.prefix,
                )
            )

        async def send_and_record(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            if not answered:  # the server answers 500 for an error no handler took
                answered = True
                record(500)
            raise
