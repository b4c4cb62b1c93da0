"""``cstar events [--category tickets]``: the event catalog, grouped by category."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cstar.cli.client.common import (
    ApiKeyFlag,
    BaseUrlFlag,
    Globals,
    JsonFlag,
    NoColorFlag,
    reports_errors,
)
from cstar.cli.client.output import esc


@reports_errors
def events(
    category: Annotated[
        str | None,
        typer.Option("--category", help="Only this category (tickets, customers, ...)."),
    ] = None,
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """List the webhook event types, grouped by category."""
    g = Globals(as_json, api_key, base_url, no_color)
    out = g.output
    with g.client() as client, out.waiting("Reading the catalog..."):
        catalog = client.events.catalog(category=category)
    if as_json:
        out.json([entry.to_dict() for entry in catalog])
        return
    groups: dict[str, list[tuple[str, str]]] = {}
    titles: dict[str, str] = {}
    for entry in catalog:
        groups.setdefault(entry.category, []).append((entry.type, entry.description))
        titles[entry.category] = entry.category_title or entry.category
    for slug, rows in groups.items():
        table = Table(title=f"{titles[slug]} ({slug})", title_justify="left", show_header=False)
        table.add_column("event", style="bold", no_wrap=True)
        table.add_column("description")
        for name, description in rows:
            table.add_row(esc(name), esc(description))
        out.out.print(table)
    noun = "event type" if len(catalog) == 1 else "event types"
    out.line(f"{len(catalog)} {noun}. Subscribe with exact names, `resource.*` or `*`.")
