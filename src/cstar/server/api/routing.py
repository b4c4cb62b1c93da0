"""How this API's routes differ from FastAPI's: strict JSON bodies.

A JSON request body is parsed by :mod:`cstar.server.api.json_body` before the route runs, so
every route refuses ``NaN``, integers beyond 64 bits, lone surrogates and the like with a 400 that
names the field, in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from cstar.server.api import json_body


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json_body.parse(await self.body())
        return self._json


def sends_json(request: Request) -> bool:
    """Whether FastAPI reads this request's body as JSON: no content type, ``application/json``
    or ``application/*+json``."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return True
    main, _, sub = content_type.split(";", 1)[0].strip().lower().partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


class ApiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def parse_strictly(request: Request) -> Response:
            strict = StrictJsonRequest(request.scope, request.receive)
            if sends_json(strict) and await strict.body():
                # Parsed here, outside FastAPI's handler, so that a refusal reaches the error
                # mapping as the domain error it is; FastAPI then reuses the parsed value.
                await strict.json()
            return await handler(strict)

        return parse_strictly


class ApiRouter(APIRouter):
    """An ``APIRouter`` of :class:`ApiRoute`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=ApiRoute, **kwargs)
