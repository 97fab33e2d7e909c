"""The proactive agent: one per user, started once (a second start returns the running one),
controlled by signals and one update, and asked for its status."""

from __future__ import annotations

import contextlib
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.client import WorkflowHandle as Handle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.service import RPCError, RPCStatusCode

from ..config import Settings
from ..core import identity
from ..models.alerts import AlertNotification, AlertReceipt
from ..models.proactive import ProactiveStatus, SetIntervalRequest
from ..workflows import ProactiveMaintenanceWorkflow
from .errors import ErrorCode, OperationError, RunNotFound, guard
from .options import proactive_input, signer


def proactive_workflow_id(user: str) -> str:
    return f"always-be-maintainin-for-{user}"


async def start_proactive(client: Client, settings: Settings, *, interval_minutes: float = 15,
                          auto_execute_routine: bool = True, callback_url: str | None = None,
                          **options: Any) -> tuple[str, bool]:
    """Start the user's proactive agent, or return the one already running. (id, already_running).
    `options` are `ProactiveOptions`: an unknown one is an error."""
    inp = proactive_input(settings, interval_minutes=interval_minutes, auto_execute_routine=auto_execute_routine,
                          callback_url=callback_url, **options)
    workflow_id = proactive_workflow_id(settings.user_name)
    if await _is_running(client, workflow_id):
        return workflow_id, True
    if (me := signer(settings)) is not None:
        inp.start_proof = me.prove(identity.START_AGENT, identity.start_fields(workflow_id, inp))
    try:
        # USE_EXISTING: two clients starting at once still end up with one agent.
        await client.start_workflow(ProactiveMaintenanceWorkflow.run, inp, id=workflow_id,
                                    task_queue=settings.task_queue,
                                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    static_summary=f"proactive maintenance for {settings.user_name}")
    except RPCError as exc:
        raise OperationError(f"could not start the proactive agent: {exc.message}") from None
    return workflow_id, False


async def _is_running(client: Client, workflow_id: str) -> bool:
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise OperationError(f"Temporal refused the request: {exc.message}") from None
    return desc.status == WorkflowExecutionStatus.RUNNING


def _agent(client: Client, user: str) -> Handle:
    return client.get_workflow_handle_for(ProactiveMaintenanceWorkflow.run, proactive_workflow_id(user))


async def proactive_status(client: Client, user: str) -> ProactiveStatus:
    workflow_id = proactive_workflow_id(user)
    try:
        return await guard(workflow_id, _agent(client, user).query(ProactiveMaintenanceWorkflow.status))
    except RunNotFound:
        raise RunNotFound(f"no proactive agent for {user} ({workflow_id})", code=ErrorCode.NO_AGENT,
                          user=user) from None


async def _require_agent(client: Client, user: str, **facts: Any) -> None:
    if not await _is_running(client, proactive_workflow_id(user)):
        raise RunNotFound(f"no proactive agent is running for {user}", code=ErrorCode.NO_AGENT, user=user, **facts)


async def _signal_agent(client: Client, user: str, signal: Any) -> ProactiveStatus:
    await _require_agent(client, user)
    await guard(proactive_workflow_id(user), _agent(client, user).signal(signal))
    return await proactive_status(client, user)


async def trigger_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.trigger_now)


async def stop_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.stop)


async def pause_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.pause)


async def resume_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.resume)


async def set_proactive_interval(client: Client, user: str, minutes: float) -> ProactiveStatus:
    await _require_agent(client, user, interval_minutes=minutes)
    return await guard(proactive_workflow_id(user), _agent(client, user).execute_update(
        ProactiveMaintenanceWorkflow.set_interval, SetIntervalRequest(minutes=minutes)))


async def deliver_alerts(client: Client, user: str, notes: list[AlertNotification]) -> list[AlertReceipt]:
    """Hand the parts of an Alertmanager notification to the user's agent, which holds the firing
    alerts and starts a cycle for new ones (one update each: the answers say what it did)."""
    await _require_agent(client, user)
    workflow_id, handle = proactive_workflow_id(user), _agent(client, user)
    receipts = []
    for note in notes:
        try:
            receipts.append(await guard(workflow_id, handle.execute_update(
                ProactiveMaintenanceWorkflow.receive_alerts, note)))
        except OperationError as exc:
            if isinstance(exc.__context__, WorkflowUpdateFailedError):  # refused by the agent: say why, by its type
                raise OperationError(str(exc), refused_as=_failure_type(exc.__context__),
                                     workflow_id=workflow_id) from None
            raise
    return receipts


def _failure_type(exc: BaseException) -> str | None:
    """The type of the innermost `ApplicationError` (the update validator's refusal), if any."""
    while isinstance(exc, (WorkflowUpdateFailedError, FailureError)) and exc.cause is not None:
        exc = exc.cause
    return exc.type if isinstance(exc, ApplicationError) else None


async def open_approval_runs(client: Client, agent_id: str, desc: WorkflowExecutionDescription) -> list[str] | None:
    """The agent's open approval runs (its proposals wait there): from its status query while it
    runs, else from visibility (a stopped agent's approval runs keep waiting); None if neither says."""
    open_runs: list[str] = []
    if desc.status == WorkflowExecutionStatus.RUNNING:
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            status: ProactiveStatus = await client.get_workflow_handle(agent_id).query(
                ProactiveMaintenanceWorkflow.status)
            open_runs = sorted(o.workflow_id for o in status.open_approvals)
    if not open_runs:
        query = f"WorkflowId STARTS_WITH '{agent_id}-cycle-' AND ExecutionStatus = 'Running'"
        try:
            open_runs = sorted([wf.id async for wf in client.list_workflows(query, limit=100)
                                if (await wf.memo()).get("kind") == "approval"])
        except RPCError:
            return None
    return open_runs
