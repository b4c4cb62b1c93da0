"""``cstar login`` and ``cstar logout``."""

from __future__ import annotations

import os
import sys

import typer

from cstar.cli.client.common import (
    ApiKeyFlag,
    BaseUrlFlag,
    JsonFlag,
    NoColorFlag,
    reports_errors,
)
from cstar.cli.client.output import Output, esc
from cstar.cli.credentials import CredentialStore
from cstar.cli.session import CliError, fetch_status, resolve


@reports_errors
def login(
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    as_json: JsonFlag = False,
    no_color: NoColorFlag = False,
) -> None:
    """Check an API key against the server, then store it (OS keychain, else a 0600 file)."""
    out = Output(as_json=as_json, no_color=no_color)
    key = (api_key or os.environ.get("CSTAR_SECRET_KEY", "")).strip()
    if not key:
        if not sys.stdin.isatty():
            raise CliError("Pass --api-key sk_... (or set CSTAR_SECRET_KEY)")
        key = typer.prompt("API key", hide_input=True).strip()
    store = CredentialStore()
    url = resolve(api_key=key, base_url=base_url, store=store).base_url
    with out.waiting(f"Checking the key against {url}..."):
        data, _ = fetch_status(key, url)
    team, info = data["team"], data["key"]
    stored = store.save(api_key=key, base_url=url, team_id=team["id"])
    if as_json:
        out.json(
            {
                "team": team,
                "key": info,
                "baseUrl": url,
                "storedIn": "keychain" if stored.where == "keychain" else "file",
                "path": None if stored.where == "keychain" else stored.where,
            }
        )
        return
    out.line(
        f"[green]Logged in[/] to team [bold]{esc(team.get('name', ''))}[/] ({esc(team['id'])}), "
        f"{esc(info['mode'])} mode, at {esc(url)}"
    )
    if stored.where == "keychain":
        out.line("The key is stored in the OS keychain.")
    else:
        out.line(
            f"[yellow]No OS keychain is available here[/]: the key is stored in "
            f"{esc(stored.where)} (readable by you only, mode 0600)."
        )


@reports_errors
def logout(as_json: JsonFlag = False, no_color: NoColorFlag = False) -> None:
    """Remove the stored credentials."""
    out = Output(as_json=as_json, no_color=no_color)
    removed = CredentialStore().delete()
    if as_json:
        out.json({"loggedOut": removed})
    elif removed:
        out.line("Logged out: the stored key is gone.")
    else:
        out.line("Nothing to do: no key was stored.")
