"""Error answers given below the application, in the API's error envelope.

The protocol writes these itself (no request reached the application, or none can), so each
carries its own request id and closes the connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

import orjson
from starlette.types import Receive, Scope, Send

from cstar.server.api import envelope
from cstar.server.domain.ids import new_request_id

#: ``Retry-After`` (seconds) when the server is at its connection limit.
OVER_CAPACITY_RETRY_AFTER = 1


def raw_error(
    status: int,
    *,
    type_: str,
    code: str,
    message: str,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """A whole HTTP/1.1 response, ready to write to a socket that is then closed."""
    request_id = new_request_id()
    body = orjson.dumps(
        envelope.error_body(type_=type_, code=code, message=message, request_id=request_id)
    )
    headers = [
        *extra_headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"connection", b"close"),
    ]
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines.extend(name + b": " + value for name, value in headers)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    """The application of a connection opened beyond ``CSTAR_MAX_CONNECTIONS``: 503, then close."""
    request_id = new_request_id()
    response = envelope.unavailable(
        "The server has as many connections open as it allows; try again shortly",
        request_id,
        retry_after=OVER_CAPACITY_RETRY_AFTER,
        headers={"Connection": "close", "X-Request-Id": request_id},
    )
    await response(scope, receive, send)
