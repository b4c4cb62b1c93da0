"""Pages rendered with Jinja2, every value escaped unless it is our own markup (charts)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from cstar.server.domain.clock import iso_z


def _when(moment: datetime | None) -> str:
    """A moment as people read it, in UTC (the pages say so)."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cstar.server.dashboard", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["iso"] = lambda moment: iso_z(moment) if moment is not None else ""
    return env


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
