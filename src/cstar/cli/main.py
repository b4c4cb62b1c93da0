"""The ``cstar`` command."""

from __future__ import annotations

import typer

from cstar import __version__
from cstar.cli import admin, server_commands

app = typer.Typer(
    name="cstar",
    help="cStar Webhooks: run the server, manage teams, and work with webhooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cstar {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """cStar Webhooks."""


server_commands.register(app)
app.add_typer(admin.app, name="admin")


def run() -> None:
    app()
