"""The cStar API behind the MCP tools.

Nothing is resolved or checked when the server starts: the key, the base URL and the key's team
are worked out on the first tool call (and again on the next one for as long as that fails).
So a missing or refused key, or a cStar server that is down, does not kill the MCP server
before the agent can say why; every tool call answers with an error that names the problem
and how to fix it, and the call after the fix succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from cstar.cli.credentials import CredentialError, CredentialStore
from cstar.cli.session import STATUS_PATH, CliError, Target, resolve
from cstar.sdk import APIConnectionError, APITimeoutError, AsyncCStarClient, CStarError
from cstar.sdk._config import DEFAULT_TIMEOUT, ClientConfig
from cstar.sdk._core import auth_headers, connection_error, error_of
from cstar.sdk._retry import RetryPolicy

log = logging.getLogger("cstar.mcp")

#: The longest ``Retry-After`` a tool call waits out before answering with the 429 instead.
MAX_RETRY_AFTER = 10.0
#: Seconds to wait for the cStar server to accept a connection.
CONNECT_TIMEOUT = 5.0


class ToolFailure(Exception):
    """A failure a tool reports as an MCP tool error (``isError``), shaped like the API's error
    envelope so an agent reads every failure the same way."""

    def __init__(
        self,
        message: str,
        *,
        type: str,
        code: str,
        param: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        doc_url: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.status = status
        self.request_id = request_id
        self.doc_url = doc_url
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "status": self.status,
            "requestId": self.request_id,
            "docUrl": self.doc_url,
            "hint": self.hint,
        }

    @classmethod
    def of(cls, error: CStarError, base_url: str | None) -> ToolFailure:
        """An SDK error (what the API answered, or that it did not) as a tool failure."""
        if isinstance(error, APIConnectionError):
            return cls(
                error.message,
                type="api_connection_error",
                code="timeout" if isinstance(error, APITimeoutError) else "connection_failed",
                hint=(
                    f"Could not reach the cStar server at {base_url}. Is it running? Point this "
                    "MCP server at it with --base-url (or CSTAR_BASE_URL) in its configuration."
                ),
            )
        if error.status is None:  # refused by the SDK before any request was sent
            return cls(error.message, type="configuration_error", code="not_configured")
        return cls(
            error.message,
            type=error.type or "api_error",
            code=error.code or f"http_{error.status}",
            param=error.param,
            status=error.status,
            request_id=error.request_id,
            doc_url=error.doc_url,
            hint=_hint(error),
        )


def _hint(error: CStarError) -> str | None:
    status = error.status
    if status == 401:
        return (
            "The API key was refused. Fix --api-key (or CSTAR_SECRET_KEY, or `cstar login`) in "
            "this MCP server's configuration and restart it."
        )
    if status == 403:
        return "This key may not do that: webhook tools need a secret key (sk_...) of the team."
    if status == 404:
        return (
            "No such object for this team: cstar_list_webhooks and cstar_list_deliveries show "
            "the ids that exist."
        )
    if status == 429:
        after = getattr(error, "retry_after", None)
        return f"Rate limited: try again in {after:g} s." if after else "Rate limited: retry later."
    if status is not None and status >= 500:
        return "The cStar server failed; retry later, quoting the request id."
    return None


def masked(api_key: str) -> str:
    """Enough of a key to recognise it in a log, never the key."""
    if len(api_key) <= 16:
        return api_key[:3] + "..."
    return f"{api_key[:8]}...{api_key[-4:]}"


class Connection:
    """The key, base URL and team the tools use, and one ``AsyncCStarClient`` for them."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        env: Mapping[str, str] | None = None,
        store: CredentialStore | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._env = env
        self._store = store
        self._timeout = timeout
        self._target: Target | None = None
        #: The key's team as the status endpoint last reported it.
        self._team_id: str | None = None
        self._client: AsyncCStarClient | None = None
        self._http: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()

    @property
    def base_url(self) -> str | None:
        """The resolved base URL (``None`` until resolution has worked once)."""
        return self._target.base_url if self._target is not None else None

    @property
    def source(self) -> str | None:
        return self._target.source if self._target is not None else None

    async def target(self) -> Target:
        """The key and base URL, from flags, ``CSTAR_*`` variables or the stored login."""
        if self._target is None:
            store = self._store or CredentialStore()
            try:
                # The stored login may sit in an OS keychain: keep that off the event loop.
                self._target = await asyncio.to_thread(
                    resolve,
                    api_key=self._api_key,
                    base_url=self._base_url,
                    env=self._env,
                    store=store,
                )
            except CliError as exc:
                raise ToolFailure(
                    str(exc),
                    type="configuration_error",
                    code="not_configured",
                    hint=(
                        'Add "--api-key", "sk_..." to this MCP server\'s args (or set '
                        "CSTAR_SECRET_KEY in its env, or run `cstar login`); --base-url or "
                        "CSTAR_BASE_URL says where the cStar server runs."
                    ),
                ) from None
        return self._target

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            # A server that does not accept the connection fails fast; one that does may take
            # its time (a test send waits for the endpoint, up to 10 s).
            timeout = httpx.Timeout(self._timeout, connect=CONNECT_TIMEOUT)
            self._http = httpx.AsyncClient(timeout=timeout)
        return self._http

    async def status(self) -> dict[str, Any]:
        """``GET /api/v1/status``: the key's team, the key, the server and rate-limit usage."""
        target = await self.target()
        config = ClientConfig(target.api_key, "", target.base_url, None, RetryPolicy(0))
        url = f"{target.base_url}{STATUS_PATH}"
        try:
            response = await self._http_client().get(url, headers=auth_headers(config))
        except httpx.RequestError as exc:
            raise ToolFailure.of(connection_error(exc), target.base_url) from None
        if response.status_code != 200:
            error = error_of(response)
            if error.status == 404:
                raise ToolFailure(
                    f"{target.base_url} has no GET {STATUS_PATH}, so the key's team cannot be "
                    "looked up (an older cStar Webhooks server?)",
                    type="configuration_error",
                    code="status_unavailable",
                    status=404,
                    request_id=error.request_id,
                    hint="Set CSTAR_TEAM_ID in this MCP server's env, or upgrade the server.",
                ) from None
            raise ToolFailure.of(error, target.base_url) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("team"), dict):
            raise ToolFailure(
                f"{target.base_url} did not answer like a cStar Webhooks server",
                type="api_error",
                code="unexpected_response",
                status=response.status_code,
                hint="Check --base-url (or CSTAR_BASE_URL) in this MCP server's configuration.",
            )
        self._team_id = str(data["team"].get("id"))
        return data

    async def client(self) -> AsyncCStarClient:
        """The SDK client for the key's team (the team looked up once, if not given)."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                target = await self.target()
                team_id = target.team_id or self._team_id
                if team_id is None:
                    team_id = str((await self.status())["team"]["id"])
                if target.team_id is None and target.source == "login":
                    await asyncio.to_thread(self._remember_team, team_id)
                self._client = AsyncCStarClient(
                    api_key=target.api_key,
                    team_id=team_id,
                    base_url=target.base_url,
                    http_client=self._http_client(),
                    max_retry_after=MAX_RETRY_AFTER,
                )
                log.info("acting for team %s at %s", team_id, target.base_url)
        return self._client

    def _remember_team(self, team_id: str) -> None:
        with contextlib.suppress(CredentialError, OSError):
            (self._store or CredentialStore()).remember_team(team_id)

    async def probe(self) -> None:
        """Check the configuration once, at start, and say on stderr what the tools will meet."""
        try:
            target = await self.target()
            data = await self.status()
        except ToolFailure as failure:
            team_given = self._target is not None and self._target.team_id is not None
            if failure.code == "status_unavailable" and team_given:
                log.debug("the server has no status endpoint; using CSTAR_TEAM_ID")
                return
            hint = f" {failure.hint}" if failure.hint else ""
            log.warning("tool calls will fail until this is fixed: %s%s", failure.message, hint)
            return
        team = data.get("team") or {}
        key = data.get("key") or {}
        server = data.get("server") or {}
        log.info(
            "connected to %s (cStar %s) as team %s (%s), %s %s key %s from %s",
            target.base_url,
            server.get("version", "?"),
            team.get("name", "?"),
            team.get("id", "?"),
            key.get("mode", "?"),
            key.get("type", "?"),
            masked(target.api_key),
            target.source,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._http is not None:
            await self._http.aclose()
