"""What routes need from a request: the container, the caller's key, the request id; and the
response table each route declares for the OpenAPI document.

The dependencies are ``async def`` although they never await: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hop per dependency per request for a dictionary lookup.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request

from cstar.server.api.context import STATE_API_KEY, request_id_of
from cstar.server.api.schemas import ErrorEnvelope
from cstar.server.bootstrap import Container
from cstar.server.domain.errors import InvalidParameter
from cstar.server.domain.models import ApiKey
from cstar.server.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, PageRequest


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_api_key(request: Request) -> ApiKey:
    key = request.state._state.get(STATE_API_KEY)  # set by AuthMiddleware
    if not isinstance(key, ApiKey):  # only reachable if a route escaped the middleware
        raise RuntimeError("route reached without authentication")
    return key


async def get_request_id(request: Request) -> str:
    return request_id_of(request.scope)


async def single_valued_query(request: Request) -> None:
    """Every query parameter of this API takes one value: a repeated one (``?cursor=a&cursor=b``)
    is refused rather than silently resolved to one of its values."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise InvalidParameter(name, f"{name} may be given only once")
        seen.add(name)


async def get_page(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="`meta.pagination.nextCursor` of the previous page"),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=Cursor.decode(cursor) if cursor else None)


ContainerDep = Annotated[Container, Depends(get_container)]
KeyDep = Annotated[ApiKey, Depends(get_api_key)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
PageDep = Annotated[PageRequest, Depends(get_page)]
TeamId = Annotated[str, Path(alias="teamId", description="Your team id (UUID)")]
WebhookId = Annotated[str, Path(alias="webhookId", description="The webhook ID (whk_ prefix)")]

_ERROR_TEXT = {
    400: "Invalid request: a parameter is missing or invalid (`param` names it)",
    401: "Authentication failed: missing or invalid API key",
    403: "Insufficient permissions: wrong key type or team access",
    404: "Not found",
    413: "Request body too large",
    429: "Rate limit exceeded (see `Retry-After`)",
    503: "The database is unavailable (see `Retry-After`)",
}


def responses(
    success: int, model: type[Any] | str, description: str, *errors: int
) -> dict[int | str, dict[str, Any]]:
    """The documented responses of a route: its success and the errors it can answer.

    ``model`` is the JSON success envelope, or a media type (``"text/event-stream"``) for a
    success that is a stream of text rather than JSON.
    """
    ok: dict[str, Any] = (
        {"description": description, "content": {model: {"schema": {"type": "string"}}}}
        if isinstance(model, str)
        else {"model": model, "description": description}
    )
    table: dict[int | str, dict[str, Any]] = {success: ok}
    for status in sorted({401, 429, 503, *errors}):
        table[status] = {"model": ErrorEnvelope, "description": _ERROR_TEXT[status]}
    return table
