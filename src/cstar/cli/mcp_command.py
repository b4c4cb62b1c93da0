"""``cstar mcp-server``: registered here; the server itself lives in ``cstar.cli.mcp``.

Nothing of the MCP SDK is imported until the command runs, so every other command works
without the ``mcp`` extra, and this one says how to install it.
"""

from __future__ import annotations

import importlib

import typer

MISSING_EXTRA = (
    "cstar mcp-server needs the MCP Python SDK, which is not installed: pip install 'cstar[mcp]'"
)
OTHER_VERSION = (
    "cstar mcp-server needs version 2 of the MCP Python SDK: pip install -U 'cstar[mcp]'"
)
LOG_LEVELS = ("debug", "info", "warning", "error")


def register(app: typer.Typer) -> None:
    app.command(
        "mcp-server",
        short_help="Run as an MCP server for AI agents (Claude Code, Cursor, etc.).",
        help=(
            "Run as an MCP server on stdio for AI agents (Claude Code, Cursor, Continue): "
            "tools to list event types, manage webhooks and deliveries, and fire test events. "
            'In the agent\'s config: {"command": "cstar", "args": ["mcp-server", "--api-key", '
            '"sk_live_..."]}. Logs go to stderr.'
        ),
    )(mcp_server)


def mcp_server(
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        help="Secret key (sk_...). Default: CSTAR_SECRET_KEY, then the `cstar login` key.",
        show_default=False,
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        help="The cStar server. Default: CSTAR_BASE_URL, then the login's, then "
        "http://127.0.0.1:8000.",
        show_default=False,
    ),
    log_level: str = typer.Option(
        "info", "--log-level", help="Logging on stderr: debug, info, warning or error."
    ),
) -> None:
    if log_level.lower() not in LOG_LEVELS:
        typer.echo(f"--log-level must be one of {', '.join(LOG_LEVELS)}", err=True)
        raise typer.Exit(2)
    try:
        importlib.import_module("mcp")
    except ImportError:
        typer.echo(MISSING_EXTRA, err=True)
        raise typer.Exit(1) from None
    try:
        from cstar.cli.mcp.server import run
    except ImportError as exc:  # an MCP SDK of another major version (1.x)
        if (exc.name or "").partition(".")[0] not in ("mcp", "mcp_types"):
            raise
        typer.echo(f"{OTHER_VERSION} ({exc})", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(run(api_key=api_key, base_url=base_url, log_level=log_level.lower()))
