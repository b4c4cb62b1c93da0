"""``cstar keys list | create | revoke``."""

from __future__ import annotations

from datetime import datetime
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
from cstar.cli.session import CliError

app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


@app.command("list")
@reports_errors
def list_keys(
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """The team's keys, revoked ones included (never the keys themselves)."""
    g = Globals(as_json, api_key, base_url, no_color)
    out = g.output
    with g.client() as client:
        keys = list(client.keys.list())
    if as_json:
        out.json([k.to_dict() for k in keys])
        return
    table = Table("id", "name", "type", "mode", "key", "created", "last used", "state")
    for column in (table.columns[0], table.columns[4]):
        column.no_wrap = True
    for k in keys:
        state = "[green]active[/]" if k.is_active else f"[red]revoked[/] {_when(k.revoked_at)}"
        table.add_row(
            esc(k.id),
            esc(k.name),
            esc(k.type),
            esc(k.mode),
            esc(f"{k.prefix}…{k.last4}"),
            _when(k.created_at),
            _when(k.last_used_at),
            state,
        )
    out.out.print(table)


@app.command("create")
@reports_errors
def create_key(
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
    key_type: Annotated[
        str, typer.Option("--type", help="secret or publishable.", case_sensitive=False)
    ] = "secret",
    mode: Annotated[
        str | None, typer.Option("--mode", help="test or live (default: the current key's).")
    ] = None,
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """Create a key; it is shown this once."""
    kind = key_type.lower()
    if kind not in ("secret", "publishable"):
        raise CliError("--type must be secret or publishable")
    if mode is not None and mode not in ("test", "live"):
        raise CliError("--mode must be test or live")
    g = Globals(as_json, api_key, base_url, no_color)
    out = g.output
    with g.client() as client:
        created = client.keys.create(type=kind, name=name, mode=mode)  # type: ignore[arg-type]
    if as_json:
        out.json(created.to_dict())
        return
    out.line(f"Created {esc(created.type)} key {esc(created.id)} ({esc(created.mode)} mode).")
    out.line(f"  [bold]{esc(created.key)}[/]")
    out.line("[yellow]Save it now: it is not shown again.[/]")


@app.command("revoke")
@reports_errors
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...).")],
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """Revoke a key: it is refused from its next request on."""
    g = Globals(as_json, api_key, base_url, no_color)
    out = g.output
    with g.client() as client:
        revoked = client.keys.revoke(key_id)
    if as_json:
        out.json(revoked.to_dict())
    else:
        out.line(f"Revoked {esc(revoked.id)} ({esc(revoked.name)}).")
