"""``cstar status``: team, environment, server, rate-limit usage."""

from __future__ import annotations

import time

from cstar.cli.client.common import ApiKeyFlag, BaseUrlFlag, JsonFlag, NoColorFlag, reports_errors
from cstar.cli.client.output import Output, esc
from cstar.cli.credentials import CredentialStore
from cstar.cli.session import fetch_status, resolve


@reports_errors
def status(
    as_json: JsonFlag = False,
    api_key: ApiKeyFlag = None,
    base_url: BaseUrlFlag = None,
    no_color: NoColorFlag = False,
) -> None:
    """Team info, environment (test or live), server version, rate-limit usage."""
    out = Output(as_json=as_json, no_color=no_color)
    target = resolve(api_key=api_key, base_url=base_url, store=CredentialStore())
    with out.waiting("Asking the server..."):
        data, _ = fetch_status(target.api_key, target.base_url)
    if as_json:
        out.json({**data, "baseUrl": target.base_url, "keySource": target.source})
        return
    team, key, server, limit = data["team"], data["key"], data["server"], data["rateLimit"]
    used = int(limit["limit"]) - int(limit["remaining"])
    resets = max(0, int(limit["reset"]) - int(time.time()))
    mode = str(key["mode"])
    colour = "yellow" if mode == "live" else "cyan"
    out.line(f"Team         [bold]{esc(team.get('name', ''))}[/] ({esc(team['id'])})")
    out.line(
        f"Environment  [{colour}]{esc(mode)}[/] ({esc(key['type'])} key {esc(key['prefix'])}…)"
    )
    out.line(f"Base URL     {esc(target.base_url)}")
    out.line(f"Server       cStar Webhooks {esc(server.get('version', '?'))}")
    out.line(
        f"Rate limit   {used} of {limit['limit']} requests used this window "
        f"({limit['windowSeconds']} s; resets in {resets} s)"
    )
    out.line(f"Key from     {esc(target.source)}")
