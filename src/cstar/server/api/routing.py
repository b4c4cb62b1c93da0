"""How this API's routes differ from FastAPI's: strict JSON bodies, and a concrete path owning
its URL.

* A JSON request body is parsed by :mod:`cstar.server.api.json_body` before the route runs, so
  every route refuses ``NaN``, integers beyond 64 bits, lone surrogates and the like with a 400
  that names the field, in one place.
* As OpenAPI reads paths, a concrete path (``/webhooks/trigger-test``) wins over a templated one
  that also matches it (``/webhooks/{webhookId}``): ``GET /webhooks/trigger-test`` is a 405
  whose ``Allow`` lists what the document says that path serves, not a webhook lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from cstar.server.api import json_body

_PARAM = re.compile(r"^\{[^}]+\}$")


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
    #: Paths of more concrete routes that take precedence over this one (see ``ApiRouter``).
    shadowed_by: tuple[re.Pattern[str], ...] = ()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def parse_strictly(request: Request) -> Response:
            strict = StrictJsonRequest(request.scope, request.receive)
            try:
                body = await strict.body()
            except ClientDisconnect:
                # The client left before its body arrived: nobody reads the answer, but the
                # request log gets one, as FastAPI's own handler would give it.
                raise HTTPException(400, "Request body could not be read") from None
            if sends_json(strict) and body:
                # Parsed here, outside FastAPI's handler, so that a refusal reaches the error
                # mapping as the domain error it is; FastAPI then reuses the parsed value.
                await strict.json()
            return await handler(strict)

        return parse_strictly

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE and self.shadowed_by:
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if any(pattern.match(path) for pattern in self.shadowed_by):
                return Match.NONE, {}
        return match, child_scope


class ApiRouter(APIRouter):
    """An ``APIRouter`` of :class:`ApiRoute`; a route added to it learns which of its siblings
    are more concrete versions of its path."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=ApiRoute, **kwargs)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        routes = [r for r in self.routes if isinstance(r, ApiRoute)]
        for route in routes:
            route.shadowed_by = tuple(
                other.path_regex for other in routes if _more_concrete(other.path, route.path)
            )


def _more_concrete(concrete: str, templated: str) -> bool:
    """``concrete`` names a literal segment where ``templated`` has a parameter, and otherwise
    the same segments: ``/webhooks/trigger-test`` against ``/webhooks/{webhookId}``."""
    ours, theirs = concrete.split("/"), templated.split("/")
    if len(ours) != len(theirs):
        return False
    narrower = False
    for mine, other in zip(ours, theirs, strict=True):
        if mine == other:
            continue
        if _PARAM.match(other) and not _PARAM.match(mine):
            narrower = True
            continue
        return False
    return narrower
