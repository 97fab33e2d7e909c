"""What to do next after an operation error, said as MCP tools (the scripts have their own: cli.py).
Keys are `client_ops.ErrorCode` values; an MCP error never names a script."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client_ops import OperationError

MCP_HINTS: Mapping[str, Callable[[dict[str, Any]], str]] = {
    "run_not_found": lambda _: "list recent runs with list_maintenance_runs",
    "not_a_run": lambda _: "list maintenance runs with list_maintenance_runs",
    "agent_not_a_run": lambda f: (f"pass one of those ids (e.g. approve_maintenance_actions with workflow_id "
                                  f"{f['open_runs'][0]!r})" if f.get("open_runs") else
                                  "initiate_proactive_maintenance or trigger_proactive_cycle show the agent and its "
                                  "approval runs"),
    "no_agent": lambda f: "start one with initiate_proactive_maintenance"
                          + (f" (interval_minutes {f['interval_minutes']:g})" if "interval_minutes" in f else ""),
    "no_artifact_reader": lambda _: "start a worker for that task queue and ask again",
}


def hinted(exc: OperationError) -> str:
    """The error's sentence, with the next step an MCP client can take if its code has one."""
    hint = MCP_HINTS.get(exc.code)
    return f"{exc}; {hint(exc.facts)}" if hint else str(exc)
