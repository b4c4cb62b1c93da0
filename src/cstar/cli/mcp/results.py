"""Tool outcomes and failures as MCP ``CallToolResult`` objects.

Both carry the result twice, as MCP recommends: as ``structuredContent`` (a JSON object) and as
text, first a summary for reading, then the same JSON serialized for clients that show only
text. A failure is ``isError: true`` with ``{"error": {type, code, message, param, status,
requestId, docUrl, hint}}``: the API's error envelope plus a hint on what to do.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult, TextContent

from cstar.cli.mcp.connection import ToolFailure
from cstar.cli.mcp.tools import Outcome


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def success(outcome: Outcome) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(text=outcome.summary), TextContent(text=_json(outcome.data))],
        structured_content=outcome.data,
    )


def describe(failure: ToolFailure) -> str:
    """One readable line (plus the hint) with everything the error envelope says."""
    details = [f"status {failure.status}"] if failure.status is not None else []
    details.append(f"{failure.type}/{failure.code}")
    if failure.param:
        details.append(f"param {failure.param}")
    if failure.request_id:
        details.append(f"request {failure.request_id}")
    text = f"Error: {failure.message} ({', '.join(details)})"
    return f"{text}\n{failure.hint}" if failure.hint else text


def failure(failure: ToolFailure) -> CallToolResult:
    data = {"error": failure.to_dict()}
    return CallToolResult(
        content=[TextContent(text=describe(failure)), TextContent(text=_json(data))],
        structured_content=data,
        is_error=True,
    )
