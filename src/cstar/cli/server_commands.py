"""``cstar serve``: the server process (API and, later, dispatcher), needing the server extra."""

from __future__ import annotations

import importlib.util

import typer

INSTALL_HINT = (
    "The server's dependencies are not installed. Install them with:\n"
    "    pip install 'cstar[server]'"
)
_SERVER_MODULES = (
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "asyncpg",
    "pyreqwest",
    "yarl",
    "cryptography",
    "jinja2",
    "multipart",
    "prometheus_client",
    "pythonjsonlogger",
)


def require_server_extra() -> None:
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        typer.echo(f"error: {INSTALL_HINT}\n(missing: {', '.join(missing)})", err=True)
        raise typer.Exit(code=1)


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=0, max=65535, help="Port to listen on (0: any free port)."),
    dev: bool = typer.Option(
        False,
        "--dev",
        help="Development mode: allow http:// URLs and private or loopback delivery targets.",
    ),
    api_only: bool = typer.Option(
        False,
        "--api-only",
        help="Serve the API and the dashboard without a dispatcher; run `cstar worker` to deliver.",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="API processes on this port (PostgreSQL only), each with a dispatcher unless "
        "--api-only.",
    ),
) -> None:
    """Run the API server (SQLite file by default; set CSTAR_DATABASE_URL for PostgreSQL)."""
    require_server_extra()
    from cstar.server.bootstrap import StartupError
    from cstar.server.config import ConfigError, Settings
    from cstar.server.replicas import serve_replicas
    from cstar.server.runner import ProcessFailed, configure_logging, run_async
    from cstar.server.runner import serve as run_server

    try:
        settings = Settings.from_env(dev=True if dev else None)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    try:
        if workers > 1:
            serve_replicas(settings, host=host, port=port, workers=workers, dispatch=not api_only)
        else:
            run_async(lambda: run_server(settings, host=host, port=port, dispatch=not api_only))
    except (StartupError, ProcessFailed) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


def worker(
    dev: bool = typer.Option(
        False, "--dev", help="Development mode: allow http:// and private or loopback targets."
    ),
) -> None:
    """Run a dispatcher only (no API): as many as needed, sharing one database."""
    require_server_extra()
    from cstar.server.bootstrap import StartupError
    from cstar.server.config import ConfigError, Settings
    from cstar.server.runner import ProcessFailed, configure_logging, run_async
    from cstar.server.runner import work as run_worker

    try:
        settings = Settings.from_env(dev=True if dev else None)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_async(lambda: run_worker(settings))
    except (StartupError, ProcessFailed) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
