"""Recent maintenance runs, each with its own outcome and counts (not Temporal's status)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from ..core.listing import card_from_result, card_from_status, listed_outcome
from ..models.listing import MEMO_KEY, RunCard, RunSummary
from ..models.run import MaintenanceResult
from ..workflows import InfrastructureMaintenanceWorkflow
from .errors import OperationError, guard
from .runs import RUN_WORKFLOW

log = logging.getLogger(__name__)

LIST_FALLBACK_CONCURRENCY = 8
LIST_FALLBACK_SECONDS = 5.0
"""A run that published no card (recorded before cards) is asked for its outcome, this many at a
time and for at most this long each; one that does not answer in time is listed as UNKNOWN."""


async def list_runs(client: Client, limit: int = 10) -> list[RunSummary]:
    """The most recent maintenance runs, newest first, each with its own outcome and counts.

    Runs publish them in their memo, so one visibility listing answers; only a run recorded before
    that is asked itself (its result, or its status query while it runs)."""
    listed: list[tuple[WorkflowExecution, RunSummary, RunCard | None]] = []
    try:
        async for wf in client.list_workflows(f"WorkflowType = '{RUN_WORKFLOW}'", limit=limit):
            listed.append(await _listed_run(wf))
    except RPCError as exc:
        raise OperationError(f"could not list runs: {exc.message}") from None
    slots = asyncio.Semaphore(LIST_FALLBACK_CONCURRENCY)

    async def complete(wf: WorkflowExecution, run: RunSummary, card: RunCard | None) -> RunSummary:
        outcome = listed_outcome(run.status, card)
        if outcome is None:
            async with slots:
                card = await _ask_run(client, wf, run.status)
            outcome = card.outcome if card is not None else "UNKNOWN"
        update: dict[str, Any] = {"outcome": outcome}
        if card is not None:
            update.update(started_by=card.started_by or run.started_by, dry_run=card.dry_run, actions=card.actions,
                          outcomes=card.outcomes)
        return run.model_copy(update=update)

    return list(await asyncio.gather(*(complete(*item) for item in listed)))


async def _listed_run(wf: WorkflowExecution) -> tuple[WorkflowExecution, RunSummary, RunCard | None]:
    """A listed run as far as the listing itself tells: Temporal's status, the agent's start memo
    (kind, cycle, starter) and the run's own card, if it published one."""
    try:
        memo = await wf.memo()
        card = await wf.memo_value(MEMO_KEY, None, type_hint=RunCard)
    except (KeyError, ValueError, TypeError) as exc:  # encrypted without our key, or not ours
        log.info("could not read the memo of %s: %s", wf.id, exc)
        memo, card = {}, None
    status = wf.status.name if isinstance(wf.status, WorkflowExecutionStatus) else "UNKNOWN"
    kind = memo.get("kind") if wf.parent_id and memo.get("kind") in ("approval", "routine") else "run"
    run = RunSummary(workflow_id=wf.id, outcome="", status=status, workflow_type=wf.workflow_type, kind=kind,
                     cycle=memo.get("cycle") if kind != "run" and isinstance(memo.get("cycle"), int) else None,
                     parent_workflow_id=wf.parent_id, started_by=str(memo["by"]) if kind != "run" and memo.get("by") else None,
                     started_at=wf.start_time, closed_at=wf.close_time)
    return wf, run, card


async def _ask_run(client: Client, wf: WorkflowExecution, status: str) -> RunCard | None:
    """The card of a run that published none: from its result once it completed, else from its status
    query (which needs a worker). None if it cannot say in time."""
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=MaintenanceResult)
    try:
        async with asyncio.timeout(LIST_FALLBACK_SECONDS):
            if status == "COMPLETED":
                return card_from_result(await guard(wf.id, handle.result()))
            return card_from_status(await guard(wf.id, handle.query(InfrastructureMaintenanceWorkflow.status)))
    except (OperationError, TimeoutError, WorkflowFailureError, ValueError, KeyError) as exc:
        log.info("%s could not say its outcome (%s)", wf.id, exc)
        return None
