"""The Meshploy MCP server: every API operation as a tool, over stdio (``meshploy mcp``).

:mod:`meshploy_core.mcp.tools` turns the client's operation table into MCP tool definitions
(name, description, input schema, annotations); :mod:`meshploy_core.mcp.server` serves them
with the official MCP Python SDK (1.x, see docs/mcp.md) and calls the API through the typed
client, so the API enforces every permission and its errors come back as tool errors.
"""
