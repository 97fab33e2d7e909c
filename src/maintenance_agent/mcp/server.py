"""The MCP server: built once with its lifespan and every module's tools, served over stdio (the
default for MCP hosts) or streamable HTTP. Nothing here prints to stdout: it is the protocol stream."""

from __future__ import annotations

import logging
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer

from ..config import ConfigError, load_settings
from . import tools_fleet, tools_runs
from .auth import ServeError, protect
from .context import AgentContext, lifespan

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Maintain a network/data-centre fleet with a durable DAPER loop (detect, analyze, plan, execute, "
    "report). Start a run with initiate_infrastructure_maintenance, poll get_maintenance_status until "
    "PENDING-APPROVAL, review get_maintenance_plan, then approve_maintenance_actions (all or some ids) or "
    "reject_maintenance_plan, and read get_maintenance_report. Rules decide; never approve high-risk "
    "actions without the user's explicit consent."
)


def build_server() -> MCPServer[AgentContext]:
    server: MCPServer[AgentContext] = MCPServer("infrastructure-maintenance-agent", title="Infrastructure maintenance agent",
                                                version="0.1.0", instructions=INSTRUCTIONS, lifespan=lifespan)
    for module in (tools_runs, tools_fleet):
        module.tools.register(server)
    return server


server = build_server()


def http_app(host: str, token: str | None) -> Any:
    """The streamable-HTTP app (path /mcp), behind the bearer-token check when a token is set."""
    return protect(server.streamable_http_app(host=host), host, token)


def serve(transport: str, *, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Run the server until the client disconnects (stdio) or it is interrupted (HTTP)."""
    try:
        if transport == "stdio":
            server.run()
            return 0
        import uvicorn

        settings = load_settings()
        token = settings.mcp_http_token.get_secret_value() if settings.mcp_http_token else None
        app = http_app(host, token)
        log.warning("serving MCP over streamable HTTP on http://%s:%d/mcp (%s)", host, port,
                    "bearer token required" if token else "no token: loopback only")
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
    except (ConfigError, ServeError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        pass
    return 0
