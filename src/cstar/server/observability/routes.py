"""The route template a request matched (``/api/v1/teams/{teamId}/events``), for metric labels:
a bounded set whatever paths clients send."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from starlette.types import Scope

from cstar.server.observability.metrics import UNMATCHED

_PARAM = re.compile(r"\{[^/]+?\}")


class RouteTemplates:
    """The template of the route the router chose (FastAPI notes it in the scope, a mounted
    app under its mount's path). A request answered before routing (a missing key, a body too
    large) is matched against the API's templates, ``templates()``, read on first need."""

    def __init__(self, templates: Callable[[], Iterable[str]]) -> None:
        self._templates = templates
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return str(scope.get("root_path", "")) + path
        return self._match(str(scope.get("path", "")))

    def _match(self, path: str) -> str:
        if self._patterns is None:
            # Fewest parameters first: ``/events/batch`` before ``/events/{eventId}``.
            ordered = sorted(self._templates(), key=lambda t: t.count("{"))
            self._patterns = [(_pattern(t), t) for t in ordered]
        for pattern, template in self._patterns:
            if pattern.fullmatch(path):
                return template
        return UNMATCHED


def _pattern(template: str) -> re.Pattern[str]:
    parts = _PARAM.split(template)
    return re.compile("[^/]+".join(re.escape(part) for part in parts))
