"""How this API's routes differ from FastAPI's: strict JSON bodies, and a concrete path owning
its URL.

* A JSON request body is parsed by :mod:`cstar.server.api.json_body` before the route runs, so
  every route refuses ``NaN``, integers beyond 64 bits, lone surrogates and the like with a 400
  that names the field, in one place.
* A route whose parameters are only plain path strings, one JSON body model and dependencies
  that read nothing but the request (the container, the request id, the caller's key) is called
  directly once its body has validated, without FastAPI's dependency solver (a third of the
  cost of a publish, measured in ``bench/ingest.py``). Anything else (a body that does not
  validate, a query string, dependency overrides) goes through FastAPI's own handler, which
  then answers exactly as it would have: the direct call is only ever a shortcut to the same
  endpoint with the same arguments.
* As OpenAPI reads paths, a concrete path (``/webhooks/trigger-test``) wins over a templated one
  that also matches it (``/webhooks/{webhookId}``): ``GET /webhooks/trigger-test`` is a 405
  whose ``Allow`` lists what the document says that path serves, not a webhook lookup.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
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


@dataclass(frozen=True, slots=True)
class DirectCall:
    """How to call an endpoint without FastAPI's dependency solver (see the module's notes)."""

    endpoint: Callable[..., Coroutine[Any, Any, Any]]
    #: Keyword and path parameter name, for each path parameter.
    path: tuple[tuple[str, str], ...]
    body: ModelField
    #: Keyword (``None``: called for its checks only) and function, for each dependency.
    dependencies: tuple[tuple[str | None, Callable[[Request], Coroutine[Any, Any, Any]]], ...]

    @classmethod
    def of(cls, route: APIRoute) -> DirectCall | None:
        dependant = route.dependant
        body = route.body_field
        call = dependant.call
        if (
            body is None
            or call is None
            or not inspect.iscoroutinefunction(call)
            or len(dependant.body_params) != 1
            or route._embed_body_fields
            or not _is_model(body.field_info.annotation)
            or not _returns_response(call)
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.request_param_name
            or dependant.response_param_name
            or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name
            or dependant.http_connection_param_name
        ):
            return None
        path = []
        for param in dependant.path_params:
            if param.field_info.annotation is not str or param.field_info.metadata:
                return None
            path.append((param.name, param.alias))
        dependencies = []
        for sub in dependant.dependencies:
            if not _reads_only_the_request(sub):
                return None
            assert sub.call is not None
            dependencies.append((sub.name, sub.call))
        return cls(call, tuple(path), body, tuple(dependencies))

    async def __call__(self, request: Request, parsed: Any) -> Response | None:
        """The endpoint's answer, or ``None`` when the body does not validate (FastAPI's
        handler then gives the error)."""
        body, errors = self.body.validate(parsed, {}, loc=("body",))
        if errors:
            return None
        path_params = request.path_params
        arguments: dict[str, Any] = {self.body.name: body}
        for name, alias in self.path:
            arguments[name] = path_params[alias]
        for keyword, dependency in self.dependencies:
            value = await dependency(request)
            if keyword is not None:
                arguments[keyword] = value
        response = await self.endpoint(**arguments)
        assert isinstance(response, Response)
        return response


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _returns_response(call: Callable[..., Any]) -> bool:
    returned = inspect.signature(call, eval_str=True).return_annotation
    return isinstance(returned, type) and issubclass(returned, Response)


def _reads_only_the_request(sub: Dependant) -> bool:
    """A dependency like ``get_container``: ``async def f(request: Request)``, nothing else."""
    return (
        sub.call is not None
        and inspect.iscoroutinefunction(sub.call)
        and sub.request_param_name is not None
        and not sub.dependencies
        and not (sub.path_params or sub.query_params or sub.header_params)
        and not (sub.cookie_params or sub.body_params)
        and not (sub.security_scopes_param_name or sub.own_oauth_scopes)
        and len(inspect.signature(sub.call).parameters) == 1
    )


class ApiRoute(APIRoute):
    #: Paths of more concrete routes that take precedence over this one (see ``ApiRouter``).
    shadowed_by: tuple[re.Pattern[str], ...] = ()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        direct = DirectCall.of(self)
        overrides = self.dependency_overrides_provider

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
                parsed = await strict.json()
                if (
                    direct is not None
                    and not strict.scope.get("query_string")
                    and not getattr(overrides, "dependency_overrides", None)
                ):
                    answer = await direct(strict, parsed)
                    if answer is not None:
                        return answer
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
