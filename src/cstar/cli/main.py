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
    stderr and exit code 2, not a framed usage message; Ctrl-C is "Aborted." and 130."""
    import sys

    usage, no_args, click_error = _click_exceptions()
    try:
        result = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("Aborted.\n")
        sys.exit(130)
    except Exception as exc:
        if no_args is not None and isinstance(exc, no_args):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, usage):
            where = exc.ctx.command_path if exc.ctx is not None else "cstar"
            sys.stderr.write(f"Error: {exc.format_message()} (see `{where} --help`)\n")
            sys.exit(exc.exit_code)
        if isinstance(exc, click_error):
            sys.stderr.write(f"Error: {exc.format_message()}\n")
            sys.exit(exc.exit_code)
        raise
    sys.exit(result if isinstance(result, int) else 0)


def _click_exceptions() -> tuple[Any, Any | None, Any]:
    """``UsageError``, ``NoArgsIsHelpError`` (newer click only) and ``ClickException``, from
    wherever this typer release keeps click: vendored as ``typer._click``, or click itself.
    Only names every such release has are required; ``tests/cli`` runs these paths against the
    release a fresh install resolves."""
    import importlib

    try:
        module = importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - typer releases that use click itself
        module = importlib.import_module("click.exceptions")
    return module.UsageError, getattr(module, "NoArgsIsHelpError", None), module.ClickException
