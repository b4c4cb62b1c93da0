"""The MCP server: the official MCP Python SDK's low-level ``Server`` over stdio, serving the
tools of ``cstar.cli.mcp.tools``.

stdout carries MCP messages and nothing else: logs go to stderr, and while the server runs the
SDK points file descriptor 1 at stderr so even a stray ``print`` cannot corrupt the stream.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import anyio
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    Tool,
    ToolAnnotations,
)

from cstar import __version__
from cstar.cli.mcp import results
from cstar.cli.mcp.connection import Connection, ToolFailure, log
from cstar.cli.mcp.tools import BY_NAME, TOOLS, ToolSpec, invoke

SERVER_NAME = "cstar"

INSTRUCTIONS = """\
Tools for cStar Webhooks, a self-hosted webhook platform: it POSTs signed JSON events \
(ticket.created, customer.updated, ...) to the HTTPS endpoints a team registers, retries \
failures for about three days, and logs every attempt.

- cstar_get_status: which team and key these tools act as, the server version, rate-limit use.
- cstar_list_events: the event types that exist (use them in events lists and triggers).
- cstar_list_webhooks / cstar_get_webhook / cstar_create_webhook / cstar_update_webhook / \
cstar_delete_webhook: manage endpoints. Creating one returns its signing secret exactly once: \
tell the user to store it.
- cstar_trigger_webhook: fire a sample event to every subscribed endpoint; \
cstar_test_webhook: send one to a single endpoint and see its answer.
- cstar_list_deliveries / cstar_get_delivery / cstar_resend_delivery: what was sent, how each \
endpoint answered, and sending again.

A failed call returns isError with error.code (RESOURCE_MISSING, PARAMETER_INVALID with \
error.param, authentication_required, ...), error.requestId and a hint."""


def _tool(spec: ToolSpec[Any]) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(),
        annotations=ToolAnnotations(
            title=spec.title,
            read_only_hint=spec.read_only,
            destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent,
            open_world_hint=spec.open_world,
        ),
    )


def build_server(conn: Connection) -> Server[Any]:
    listed = ListToolsResult(tools=[_tool(spec) for spec in TOOLS])

    async def list_tools(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return listed

    async def call_tool(
        ctx: ServerRequestContext[Any], params: CallToolRequestParams
    ) -> CallToolResult:
        spec = BY_NAME.get(params.name)
        if spec is None:
            # Not a tool failure but a wrong request: a JSON-RPC error, as the spec says.
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        started = time.monotonic()
        try:
            outcome = await invoke(spec, conn, params.arguments or {})
        except ToolFailure as failure:
            log.info(
                "%s: error %s/%s (%.0f ms)",
                spec.name,
                failure.type,
                failure.code,
                (time.monotonic() - started) * 1000,
            )
            return results.failure(failure)
        log.info("%s: ok (%.0f ms)", spec.name, (time.monotonic() - started) * 1000)
        return results.success(outcome)

    return Server(
        SERVER_NAME,
        version=__version__,
        title="cStar Webhooks",
        description="Manage cStar webhooks and deliveries, and fire test events.",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve(conn: Connection) -> None:
    """Serve one MCP client on stdin/stdout until it closes stdin."""
    server = build_server(conn)
    try:
        async with (
            stdio_server() as (read_stream, write_stream),
            anyio.create_task_group() as tasks,
        ):
            tasks.start_soon(conn.probe)
            await server.run(read_stream, write_stream, server.create_initialization_options())
            tasks.cancel_scope.cancel()
    finally:
        await conn.aclose()


def configure_logging(level: str) -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cstar mcp-server: %(levelname)s: %(message)s"))
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    if numeric > logging.DEBUG:
        # One line per HTTP request (httpx) or MCP message (mcp) is noise at INFO.
        for noisy in ("httpx", "httpcore", "mcp"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def run(*, api_key: str | None, base_url: str | None, log_level: str = "info") -> int:
    """``cstar mcp-server``: returns the exit code."""
    configure_logging(log_level)
    conn = Connection(api_key=api_key, base_url=base_url)
    log.info("cStar Webhooks %s: MCP server on stdio, %d tools", __version__, len(TOOLS))
    try:
        anyio.run(serve, conn)
    except KeyboardInterrupt:
        return 130
    log.info("client disconnected; exiting")
    return 0
