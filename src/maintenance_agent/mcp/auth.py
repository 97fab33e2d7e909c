"""The HTTP transport's guard: a bearer token (MCP_HTTP_TOKEN) on every request, and no serving of
fleet-changing tools beyond loopback without one (`maintenance_agent.bearer`)."""

from __future__ import annotations

from typing import Any

from ..bearer import LOOPBACK, ServeError
from ..bearer import protect as _protect

__all__ = ["LOOPBACK", "ServeError", "protect"]


def protect(app: Any, host: str, token: str | None) -> Any:
    return _protect(app, host, token, setting="MCP_HTTP_TOKEN", what="fleet-changing tools")
