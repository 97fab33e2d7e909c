"""The agent as MCP tools (official `mcp` 2.x SDK). Thin: every tool calls client_ops and shapes output.

context.py holds the lifespan state (settings, one Temporal client connected in the background);
tools_runs.py and tools_fleet.py the tools; server.py builds and serves the server; auth.py guards
the HTTP transport. Inside this package `mcp.…` (absolute) is the SDK and `.…` (relative) is ours.
"""

from .server import build_server, http_app, serve, server

__all__ = ["build_server", "http_app", "serve", "server"]
