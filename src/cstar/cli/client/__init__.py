"""The client commands of seed 004 (``login``, ``status``, ``listen``, ...), built on the SDK."""

from __future__ import annotations

import typer

from cstar.cli.client import auth, catalog, keys, listen, logs, status, trigger


def register(app: typer.Typer) -> None:
    app.command("login")(auth.login)
    app.command("logout")(auth.logout)
    app.command("status")(status.status)
    app.command("events")(catalog.events)
    app.add_typer(keys.app, name="keys")
    app.command("listen")(listen.listen)
    app.command("trigger")(trigger.trigger)
    app.command("logs")(logs.logs)
