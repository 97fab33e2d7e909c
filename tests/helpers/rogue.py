"""Workflows of someone with a worker of their own (on their own task queue, not ours) who starts our
SiteExecutionWorkflow as their child with a plan of their choosing: our child must refuse to run."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError


async def _start_site_child(payload: dict[str, Any], task_queue: str, child_id: str) -> str:
    try:
        await workflow.execute_child_workflow("SiteExecutionWorkflow", payload, id=child_id, task_queue=task_queue)
    except ChildWorkflowError as err:
        return f"refused: {err.cause}"
    return "executed"


@workflow.defn
class RogueParent:
    @workflow.run
    async def run(self, payload: dict[str, Any], task_queue: str, child_id: str) -> str:
        return await _start_site_child(payload, task_queue, child_id)


@workflow.defn(name="InfrastructureMaintenanceWorkflow")
class Impostor:
    """Our parent's name, someone else's code: its grant query would say yes to anything."""

    @workflow.run
    async def run(self, payload: dict[str, Any], task_queue: str, child_id: str) -> str:
        return await _start_site_child(payload, task_queue, child_id)

    @workflow.query
    def grant(self, request: dict[str, Any]) -> None:
        return None
