"""What each tool module offers the server (tools with their title and hints, resources, prompts),
recorded next to the functions and registered by `server.py` in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

F = TypeVar("F", bound=Callable[..., Any])

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# Starting work is destructive: an auto-approved run or the proactive agent's routine actions change the fleet.
STARTS_WORK = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
STARTS_AGENT = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
"""Idempotent: a second start returns the agent already running, unchanged."""
CHANGES_FLEET = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
CONTROL = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


@dataclass
class Registry:
    """Tools, resources and prompts of one module, in the order they are defined."""

    entries: list[tuple[str, Callable[..., Any], dict[str, Any]]] = field(default_factory=list)

    def tool(self, *, title: str, annotations: ToolAnnotations) -> Callable[[F], F]:
        return self._record("tool", title=title, annotations=annotations)

    def resource(self, uri: str, **options: Any) -> Callable[[F], F]:
        return self._record("resource", uri=uri, **options)

    def prompt(self, *, title: str) -> Callable[[F], F]:
        return self._record("prompt", title=title)

    def _record(self, kind: str, **options: Any) -> Callable[[F], F]:
        def record(fn: F) -> F:
            self.entries.append((kind, fn, options))
            return fn

        return record

    def register(self, server: MCPServer) -> None:
        for kind, fn, options in self.entries:
            if kind == "tool":
                server.add_tool(fn, **options)
            elif kind == "resource":
                uri, rest = options["uri"], {k: v for k, v in options.items() if k != "uri"}
                server.resource(uri, **rest)(fn)
            else:
                server.prompt(**options)(fn)
