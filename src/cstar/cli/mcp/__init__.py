"""``cstar mcp-server``: the cStar webhook tools for AI agents, over MCP on stdio.

- ``connection``: the API behind the tools (key, base URL and team resolved on first use).
- ``tools``: each tool's arguments (a pydantic model, hence its JSON schema) and what it does,
  written against the async SDK and free of MCP types.
- ``results``: tool outcomes and failures as MCP ``CallToolResult`` objects.
- ``server``: the MCP glue (the official MCP Python SDK's low-level server over stdio).

Only ``results`` and ``server`` import the MCP SDK, and nothing here is imported until the
command runs, so ``cstar`` works without the ``mcp`` extra.
"""
