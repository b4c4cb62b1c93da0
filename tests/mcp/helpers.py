"""Driving ``cstar mcp-server`` with the MCP SDK's own stdio client, and reading its results."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from mcp import ClientSession
from tests.e2e.server import CSTAR, Bootstrap

BIN = str(Path(CSTAR).parent)
#: Every MCP exchange is bounded: a hung server fails the test instead of hanging it.
READ_TIMEOUT = 30.0


@dataclass
class Api:
    base_url: str
    keys: Bootstrap
    #: The server's working directory (its SQLite file), for ``cstar admin`` commands.
    cwd: Path


def mcp_env(home: Path, **extra: str) -> dict[str, str]:
    """What the MCP subprocess gets on top of the SDK's safe defaults (HOME, PATH, ...): no
    CSTAR_* of this process leaks in, and ``cstar`` is on PATH as after a pip install."""
    return {
        "HOME": str(home),
        "CSTAR_CONFIG_DIR": str(home / ".config" / "cstar"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        **extra,
    }


@asynccontextmanager
async def mcp_session(params: StdioServerParameters, stderr: Path) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with the server ``params`` start; its stderr goes to a file."""
    with stderr.open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session,
        ):
            await session.initialize()
            yield session


def cstar_mcp(home: Path, *args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command="cstar", args=["mcp-server", *args], env=mcp_env(home, **env)
    )


def structured(result: CallToolResult) -> dict[str, Any]:
    data = result.structured_content
    assert isinstance(data, dict), result
    return data


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    return structured(result)


def error(result: CallToolResult) -> dict[str, Any]:
    """The ``error`` object of a tool error, checked to be one."""
    assert result.is_error, result
    failure = structured(result)["error"]
    assert isinstance(failure, dict)
    # The text says everything the structured error does.
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    for field in ("message", "code", "param", "requestId"):
        if failure.get(field):
            assert str(failure[field]) in text, (field, text)
    return failure


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)
