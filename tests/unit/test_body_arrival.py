"""The body deadline is armed only while the body is still on its way: a body the protocol has
received in full is read as it is; one still arriving is timed."""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import Any

import uvicorn

from cstar.server.http.body_deadline import BODY_ARRIVAL, BodyArrival, BodyDeadlineMiddleware
from cstar.server.http.protocol import ConnectionLimits, GuardedHttpToolsProtocol

BODY = b'{"hello": "world"}'


async def run_middleware(arrival: BodyArrival | None) -> list[dict[str, Any]]:
    """A body whose receive takes 0.2 s, behind a 0.05 s deadline: what the app and the
    client are given."""
    seen: list[dict[str, Any]] = []

    async def slow_receive() -> dict[str, Any]:
        await asyncio.sleep(0.2)
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())

    async def send(message: dict[str, Any]) -> None:
        seen.append(message)

    scope: dict[str, Any] = {"type": "http", "path": "/", "state": {}}
    if arrival is not None:
        scope[BODY_ARRIVAL] = arrival
    await BodyDeadlineMiddleware(app, timeout=0.05)(scope, slow_receive, send)
    return seen


async def test_a_body_still_arriving_is_timed() -> None:
    seen = await run_middleware(BodyArrival())
    assert seen[0]["type"] == "http.response.start"
    assert seen[0]["status"] == 408
    assert seen[-1] == {"type": "http.disconnect"}


async def test_without_the_protocols_word_the_body_is_timed() -> None:
    seen = await run_middleware(None)
    assert seen[0]["status"] == 408


async def test_a_body_received_in_full_is_read_without_a_deadline() -> None:
    arrival = BodyArrival()
    arrival.complete = True
    seen = await run_middleware(arrival)
    assert seen == [{"type": "http.request", "body": BODY, "more_body": False}]


async def test_the_protocol_says_when_the_body_has_arrived() -> None:
    """A real uvicorn server on the guarded protocol: the flag is false while a body is still
    coming, true when it came with the headers."""
    seen: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(0.05)  # let whatever was sent in one piece be parsed
        arrival = scope.get(BODY_ARRIVAL)
        seen.append(isinstance(arrival, BodyArrival) and arrival.complete)
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limits = ConnectionLimits(header_timeout=5, body_timeout=5, max_connections=10)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,
        http=functools.partial(GuardedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + BODY)  # all at once
        await reader.readuntil(b"ok")
        writer.write(head + BODY[:5])  # the rest only after the app has looked
        await asyncio.sleep(0.2)
        writer.write(BODY[5:])
        await reader.readuntil(b"ok")
        writer.close()
    finally:
        server.should_exit = True
        await serving
        listener.close()
    assert seen == [True, False]
