"""``cstar admin``: operator commands that work on the database directly."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from cstar.cli.server_commands import fail, require_server_extra

if TYPE_CHECKING:
    from cstar.server.bootstrap import Container

app = typer.Typer(
    help="Operator commands that work on the database directly (CSTAR_DATABASE_URL).",
    no_args_is_help=True,
)

T = TypeVar("T")


def with_container(work: Callable[[Container], Awaitable[T]]) -> T:
    require_server_extra()
    from cstar.server.bootstrap import StartupError, open_container
    from cstar.server.config import ConfigError, Settings
    from cstar.server.runner import configure_logging, run_async

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    configure_logging("WARNING")
    result: list[T] = []

    async def main() -> None:
        container = await open_container(settings, bootstrap=False)
        try:
            result.append(await work(container))
        finally:
            await container.aclose()

    try:
        run_async(main)
    except StartupError as exc:
        raise fail(str(exc)) from None
    return result[0]


def _emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(payload) if as_json else text)


@app.command("create-team")
def create_team(
    name: str = typer.Option(..., "--name", help="The team's name."),
    live: bool = typer.Option(False, "--live", help="Create live-mode keys instead of test."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Create a team with a secret and a publishable key, printed once."""
    from cstar.server.domain.errors import DomainError
    from cstar.server.domain.models import KeyMode

    mode = KeyMode.LIVE if live else KeyMode.TEST

    async def work(c: Container) -> Any:
        try:
            return await c.teams.create_team(name, mode=mode)
        except DomainError as exc:
            raise fail(exc.message) from None

    created = with_container(work)
    _emit(
        as_json,
        {
            "teamId": created.team.id,
            "secretKey": created.secret_key,
            "publishableKey": created.publishable_key,
        },
        f'Created team "{created.team.name}". Save these keys now: they are shown only once.\n'
        f"  Team id:         {created.team.id}\n"
        f"  Secret key:      {created.secret_key}\n"
        f"  Publishable key: {created.publishable_key}",
    )


@app.command("list-teams")
def list_teams(as_json: bool = typer.Option(False, "--json", help="Print JSON only.")) -> None:
    """List every team (id, name, creation time)."""

    async def work(c: Container) -> Any:
        return await c.teams.list_teams()

    teams = with_container(work)
    rows = [{"id": t.id, "name": t.name, "createdAt": t.created_at.isoformat()} for t in teams]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo(f"{row['id']}  {row['name']}  (created {row['createdAt']})")


@app.command("create-key")
def create_key(
    team: str = typer.Option(..., "--team", help="Team id."),
    key_type: str = typer.Option("secret", "--type", help="secret or publishable."),
    mode: str = typer.Option("test", "--mode", help="test or live."),
    name: str = typer.Option("", "--name", help="A label for the key."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Create an API key for a team (for instance after losing the last secret key)."""
    from cstar.server.domain.models import KeyKind, KeyMode

    try:
        kind, key_mode = KeyKind(key_type), KeyMode(mode)
    except ValueError:
        raise fail("--type must be secret or publishable and --mode test or live") from None

    async def work(c: Container) -> Any:
        if await c.store.get_team(team) is None:
            raise fail(f"no team with id {team}")
        return await c.keys.create(team, kind=kind, mode=key_mode, name=name or None)

    record, raw = with_container(work)
    _emit(
        as_json,
        {"id": record.id, "teamId": team, "type": kind.value, "mode": key_mode.value, "key": raw},
        f"Created {kind.value} key {record.id} for team {team}. Save it now: {raw}",
    )


@app.command("dashboard-link")
def dashboard_link(
    team: str = typer.Option(..., "--team", help="Team id."),
    base_url: str = typer.Option(
        "http://127.0.0.1:8000",
        "--base-url",
        help="Where the server is reached (the link starts with it).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Print a one-time dashboard sign-in link for a team (valid 15 minutes, single use)."""

    async def work(c: Container) -> str:
        if await c.store.get_team(team) is None:
            raise fail(f"no team with id {team}")
        return await c.dashboard_sessions.create_link(team)

    token = with_container(work)
    url = f"{base_url.rstrip('/')}/dashboard/sign-in/link/{token}"
    _emit(
        as_json,
        {"teamId": team, "url": url, "expiresInSeconds": 900},
        f"Sign-in link for team {team} (works once, for 15 minutes):\n  {url}",
    )


@app.command("migrate")
def migrate() -> None:
    """Apply database migrations (the server also does this on start)."""

    async def work(c: Container) -> str:
        from cstar.server.store.migrate import current_revision

        return str(await current_revision(c.database))

    revision = with_container(work)
    typer.echo(f"database is at migration {revision}")
