"""Maintenance runs: start one, tell a run from other workflows, ask its status, decide its plan,
wait for and follow it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.client import WorkflowHandle as Handle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from ..config import Settings
from ..core import identity
from ..core.status_text import start_details, start_summary
from ..identity import Signer
from ..models.approval import ApprovalRequest, ApprovalResult
from ..models.run import MaintenanceResult, Phase
from ..models.views import RunStatus
from ..workflows import InfrastructureMaintenanceWorkflow, ProactiveMaintenanceWorkflow
from .errors import Busy, ErrorCode, OperationError, RunNotFound, failure_text, guard
from .options import run_input, signer
from .proactive import open_approval_runs

RUN_WORKFLOW = "InfrastructureMaintenanceWorkflow"

FOLLOW_PATIENCE_SECONDS = 120.0
"""How long `follow` keeps asking a busy run before giving up."""


def run_workflow_id(user: str) -> str:
    return f"infra-monitoring-agent-for-{user}-{uuid.uuid4()}"


async def start_run(client: Client, settings: Settings, **options: Any) -> str:
    """Start a maintenance run; returns its workflow id immediately. Signed with APPROVER_KEY_FILE, if set."""
    inp = run_input(settings, **options)
    workflow_id = run_workflow_id(settings.user_name)
    if (me := signer(settings)) is not None:
        inp.start_proof = me.prove(identity.START, identity.start_fields(workflow_id, inp))
    try:
        # A run's id names its report folder and its ledger entries: never reuse one.
        await client.start_workflow(
            InfrastructureMaintenanceWorkflow.run, inp, id=workflow_id, task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=start_summary(settings.user_name, dry_run=inp.dry_run, auto_approve=inp.auto_approve),
            static_details=start_details(settings.user_name, dry_run=inp.dry_run, auto_approve=inp.auto_approve,
                                         approval_hours=inp.approval_timeout_seconds / 3600),
        )
    except RPCError as exc:
        raise OperationError(f"could not start the run: {exc.message}") from None
    return workflow_id


def run_handle(client: Client, workflow_id: str) -> Handle:
    return client.get_workflow_handle_for(InfrastructureMaintenanceWorkflow.run, workflow_id)


async def describe_run(client: Client, workflow_id: str) -> tuple[Handle, WorkflowExecutionDescription]:
    """The run's handle and description; the id of any other workflow is refused, saying what it is."""
    handle = run_handle(client, workflow_id)
    desc = await guard(workflow_id, handle.describe())
    if desc.workflow_type == ProactiveMaintenanceWorkflow.__name__:
        open_runs = await open_approval_runs(client, workflow_id, desc)
        head = (f"{workflow_id!r} is the proactive agent, not a maintenance run: its proposals wait for approval "
                f"in approval runs of their own")
        if open_runs is None:
            message = head
        elif not open_runs:
            message = f"{head}, and none is open now"
        else:
            shown = ", ".join(open_runs[:10]) + (f" and {len(open_runs) - 10} more" if len(open_runs) > 10 else "")
            message = f"{head}. Open now: {shown}; pass one of those ids instead"
        raise OperationError(message, code=ErrorCode.AGENT_NOT_A_RUN, workflow_id=workflow_id,
                             open_runs=open_runs or [])
    if desc.workflow_type != RUN_WORKFLOW:
        raise OperationError(f"{workflow_id!r} is a {desc.workflow_type} workflow, not a maintenance run",
                             code=ErrorCode.NOT_A_RUN, workflow_id=workflow_id, workflow_type=desc.workflow_type)
    return handle, desc


async def query_run(client: Client, workflow_id: str, query: Callable[..., Any]) -> Any:
    """A query on a maintenance run. Only if it fails is the workflow described, to tell an id of
    another kind of workflow (the proactive agent's) apart from a run that cannot answer."""
    try:
        return await guard(workflow_id, run_handle(client, workflow_id).query(query))
    except (Busy, RunNotFound):
        raise
    except OperationError:
        await describe_run(client, workflow_id)  # raises the clearer error for another workflow type
        raise


async def get_status(client: Client, workflow_id: str) -> RunStatus:
    """The run's status. A finished run answers from its recorded result: no replay, no worker needed."""
    handle, desc = await describe_run(client, workflow_id)
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        r: MaintenanceResult = await guard(workflow_id, handle.result())
        executed = r.outcomes.finished
        return RunStatus(
            workflow_id=workflow_id, phase=r.phase, started_by=r.started_by, started_at=r.started_at or desc.start_time,
            as_of=r.as_of, dry_run=r.dry_run, findings=r.findings, findings_by_severity=r.findings_by_severity,
            data_errors=r.data_errors, warnings=r.warnings,
            problems=r.problems, actions=r.actions, decision=r.decision, outcomes=r.outcomes, executed=executed,
            to_execute=executed, report=r.report, error=r.error, phases=r.phases)
    return await guard(workflow_id, handle.query(InfrastructureMaintenanceWorkflow.status))


async def decide(client: Client, workflow_id: str, request: ApprovalRequest, *,
                 patience_seconds: float = 120.0, signed_by: Signer | None = None) -> ApprovalResult:
    """Send an approval or rejection; the workflow validates it before anything is recorded. With
    `signed_by`, the decision is signed for this run of the workflow (the approver is the signer).

    A busy worker or server is retried for up to `patience_seconds` with the same update id, so a
    decision that did land is never applied twice: Temporal returns the first outcome again."""
    _, desc = await describe_run(client, workflow_id)  # another workflow's id is refused, saying what to use
    if signed_by is not None:
        request = request.model_copy(update={"approver": signed_by.user})
        request.proof = signed_by.prove(identity.DECIDE, identity.decision_fields(
            workflow_id, desc.run_id, signed_by.user, request.approve, request.action_ids, request.comment))
    update_id = f"decide-{uuid.uuid4()}"
    return await retry_busy(lambda: guard(workflow_id, run_handle(client, workflow_id).execute_update(
        InfrastructureMaintenanceWorkflow.decide, request, id=update_id)), patience_seconds)


async def retry_busy(call: Callable[[], Awaitable[Any]], patience_seconds: float, first_delay: float = 0.5) -> Any:
    """`call()` again while it raises `Busy`, backing off up to 5 s, for at most `patience_seconds`."""
    deadline = time.monotonic() + patience_seconds
    delay = first_delay
    while True:
        try:
            return await call()
        except Busy:
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def result(client: Client, workflow_id: str) -> MaintenanceResult:
    """Wait for the run to finish. A run that failed returns its FAILED result (from its status)."""
    handle = run_handle(client, workflow_id)
    try:
        return await guard(workflow_id, handle.result())
    except WorkflowFailureError as exc:
        status = await get_status(client, workflow_id)
        return MaintenanceResult(workflow_id=workflow_id, phase=Phase.FAILED, summary=status.report.summary
                                 if status.report else f"FAILED: {failure_text(exc)}",
                                 report=status.report, error=status.error or failure_text(exc))


async def follow(client: Client, workflow_id: str, on_change: Callable[[RunStatus], None], *,
                 until: Callable[[RunStatus], bool], poll_seconds: float = 0.25,
                 timeout_seconds: float | None = None, busy_poll_seconds: float = 2.0) -> RunStatus:
    """Poll the run's status, calling `on_change` whenever phase or progress changes, until `until`."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    last: tuple[Any, ...] | None = None
    busy_since: float | None = None
    while True:
        try:
            status = await get_status(client, workflow_id)
        except Busy:
            # A busy worker is not a failed run: keep asking, within a bounded patience.
            now = time.monotonic()
            busy_since = busy_since or now
            if now - busy_since >= FOLLOW_PATIENCE_SECONDS:
                raise
            await asyncio.sleep(busy_poll_seconds)
            continue
        busy_since = None
        key = (status.phase, len(status.phases), status.executed, status.decision is not None)
        if key != last:
            on_change(status)
            last = key
        if until(status):
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise OperationError(f"run {workflow_id} is still {status.phase.value} after {timeout_seconds:.0f} s",
                                 code=ErrorCode.TIMEOUT, workflow_id=workflow_id)
        await asyncio.sleep(poll_seconds)
