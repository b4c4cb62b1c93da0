"""GET /metrics: Prometheus's text format, for a bearer token set in ``CSTAR_METRICS_TOKEN``.

Without a token in the configuration the route does not exist here (404, as any unknown path);
``CSTAR_METRICS_PORT`` serves the same text on a port of its own instead
(``observability/server.py``).
"""

from __future__ import annotations

import hmac

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cstar.server.api.auth import bearer_token
from cstar.server.api.deps import ContainerDep
from cstar.server.api.routing import ApiRouter
from cstar.server.domain.errors import AuthenticationFailed
from cstar.server.observability.metrics import CONTENT_TYPE

router = ApiRouter(tags=["Operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, c: ContainerDep) -> Response:
    expected = c.settings.metrics_token
    if expected is None:
        raise HTTPException(404)
    sent = bearer_token(request.scope)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise AuthenticationFailed(
            "/metrics needs the token set in CSTAR_METRICS_TOKEN (Authorization: Bearer ...)"
        )
    return Response(await c.metrics.render(), media_type=CONTENT_TYPE)
