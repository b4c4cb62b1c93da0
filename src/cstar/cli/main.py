"""The ``cstar`` command."""

from __future__ import annotations

from typing import Any

import typer

from cstar import __version__
from cstar.cli import admin, client, mcp_command, server_commands

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
client.register(app)
mcp_command.register(app)
app.add_typer(admin.app, name="admin")


def run() -> None:
    """The console script: a usage error (an unknown flag, a missing option) is one line on
    stderr and exit code 2, not a framed usage message."""
    import sys

    click = _click_exceptions()
    try:
        result = app(standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "cstar"
        sys.stderr.write(f"Error: {exc.format_message()} (see `{where} --help`)\n")
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.stderr.write("Aborted.\n")
        sys.exit(130)
    except click.ClickException as exc:
        sys.stderr.write(f"Error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)


def _click_exceptions() -> Any:
    """Typer's click exceptions: recent typer vendors click as ``typer._click``."""
    import importlib

    try:
        return importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - typer releases that use click itself
        return importlib.import_module("click.exceptions")
