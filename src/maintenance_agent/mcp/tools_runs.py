"""The tools for maintenance runs: start one, follow it, read its findings, plan and report, decide.
Thin: each calls client_ops and shapes the answer; errors are raised as `ToolError`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from ..core.report import changes_text
from ..models.approval import ApprovalRequest
from ..models.core import Severity
from ..models.mcp import (
    MAX_ITEMS,
    DecisionOut,
    FindingsOut,
    PlanActionOut,
    PlanOut,
    ReportActionOut,
    ReportOut,
    RunList,
    RunStarted,
    StatusOut,
)
from ..models.run import Phase
from ..models.views import RunStatus
from .context import AgentCtx, call, client_of, deciding_user, ops, require_worker, rules_of, settings_of
from .registry import CHANGES_FLEET, CONTROL, READ_ONLY, STARTS_WORK, Registry

tools = Registry()

WorkflowId = Annotated[str, Field(min_length=1, max_length=300, description="The run's workflow id (from "
                                  "initiate_infrastructure_maintenance, list_maintenance_runs or a notification).")]

def _approver_field(verb: str) -> Any:
    return Field(max_length=200, description=f"Leave empty: the server {verb} as its own USER_NAME (signed with that "
                                             f"user's key); anyone else is refused.")


def next_step(status: RunStatus) -> str:
    wid = status.workflow_id
    if status.phase is Phase.PENDING_APPROVAL:
        return (f"Review get_maintenance_plan('{wid}'), then approve_maintenance_actions (all or some ids) or "
                f"reject_maintenance_plan before {status.approval_deadline:%Y-%m-%d %H:%M} UTC.")
    if status.phase.terminal:
        return f"Finished ({status.phase.value}); read get_maintenance_report('{wid}')."
    return f"Still {status.phase.value}; call get_maintenance_status('{wid}') again in a few seconds."


@tools.tool(title="Start a maintenance run", annotations=STARTS_WORK)
async def initiate_infrastructure_maintenance(
    ctx: AgentCtx,
    auto_approve: Annotated[bool, Field(description="Approve the whole plan at once (recorded as auto-approved). "
                                                    "Leave false to review the plan first.")] = False,
    dry_run: Annotated[bool, Field(description="Plan and simulate every action without changing the fleet.")] = False,
) -> RunStarted:
    """Start one maintenance run over the fleet (detect, analyze, plan, then approval or execution); returns its id at once."""
    settings = settings_of(ctx)
    if auto_approve and (refusal := ops().auto_approve_refusal(settings)):
        raise ToolError(f"{refusal}; start without auto_approve and have someone else approve the plan")
    client = await client_of(ctx)
    await require_worker(client, settings)
    rules = await rules_of(settings)
    workflow_id = await call(ops().start_run(client, settings, auto_approve=auto_approve, dry_run=dry_run, rules=rules))
    status = await call(ops().get_status(client, workflow_id))
    return RunStarted(workflow_id=workflow_id, phase=status.phase,
                      next_step=f"Poll get_maintenance_status('{workflow_id}') until "
                                + ("it finishes." if auto_approve else "PENDING-APPROVAL, then review the plan."))


@tools.tool(title="Run status", annotations=READ_ONLY)
async def get_maintenance_status(ctx: AgentCtx, workflow_id: WorkflowId) -> StatusOut:
    """Phase, counts, actions awaiting approval and the next step of one maintenance run."""
    s = await call(ops().get_status(await client_of(ctx), workflow_id))
    return StatusOut(**{**s.model_dump(), "pending_actions": s.pending_actions[:MAX_ITEMS]},
                     summary=s.report.summary if s.report else None, next_step=next_step(s))


@tools.tool(title="Recent runs", annotations=READ_ONLY)
async def list_maintenance_runs(
    ctx: AgentCtx, limit: Annotated[int, Field(ge=1, le=100, description="How many runs, newest first.")] = 10,
) -> RunList:
    """List recent maintenance runs (newest first) with each one's own outcome and counts.

    The outcome is the run's, not Temporal's status: PENDING-APPROVAL, REJECTED, EXPIRED, COMPLETED WITH
    PROBLEMS, … The proactive agent's approval and routine runs are included (kind, cycle, parent)."""
    return RunList(runs=await call(ops().list_runs(await client_of(ctx), limit)))


@tools.tool(title="Findings of a run", annotations=READ_ONLY)
async def get_maintenance_findings(
    ctx: AgentCtx,
    workflow_id: WorkflowId,
    site: Annotated[str | None, Field(max_length=100, description="Only this site, e.g. DC-WEST1.")] = None,
    min_severity: Annotated[Literal["info", "warning", "critical"] | None,
                            Field(description="Only findings at least this severe.")] = None,
) -> FindingsOut:
    """What a run detected: findings with evidence (metric, value, threshold) and confidence, most severe first."""
    view = await call(ops().get_findings(await client_of(ctx), workflow_id, site=site,
                                         min_severity=Severity(min_severity) if min_severity else None))
    shown = view.findings[:MAX_ITEMS]
    note = None
    if view.truncated:
        note = f"only the {len(view.findings)} most severe findings are held by the run; the full list is {view.artifact}"
    elif len(view.findings) > MAX_ITEMS:
        note = f"showing {MAX_ITEMS} of {len(view.findings)}; filter by site or min_severity for the rest"
    if view.artifact and workflow_id not in Path(view.artifact).parts:  # a run planned by a proactive cycle
        note = "; ".join(filter(None, [note, f"these are the findings of the proactive cycle that planned this run "
                                             f"({Path(view.artifact).parent.name}), not only of its actions"]))
    return FindingsOut(workflow_id=workflow_id, total=view.total, shown=len(shown), findings=shown,
                       truncated=view.truncated or len(view.findings) > MAX_ITEMS, note=note)


@tools.tool(title="Plan of a run", annotations=READ_ONLY)
async def get_maintenance_plan(ctx: AgentCtx, workflow_id: WorkflowId) -> PlanOut:
    """The planned actions (id, device, action, risk, confidence, routine, approval state) of a run."""
    client = await client_of(ctx)
    view = await call(ops().get_plan(client, workflow_id))
    status = await call(ops().get_status(client, workflow_id))
    actions = [PlanActionOut(id=a.id, equipment_id=a.equipment_id, site=a.site, action=a.action.value,
                             risk=a.risk.value, confidence=a.confidence, routine=a.routine, priority=a.priority,
                             reason=a.reason, expected_effect=a.expected_effect, rollback=a.rollback, source=a.source,
                             approval=view.approval.get(a.id, view.default_approval))
               for a in view.actions[:MAX_ITEMS]]
    by_risk: dict[str, int] = {}
    for a in view.actions:
        by_risk[a.risk.value] = by_risk.get(a.risk.value, 0) + 1
    return PlanOut(workflow_id=workflow_id, phase=status.phase, total=view.total, shown=len(actions), actions=actions,
                   by_risk=by_risk, decision=view.decision, truncated=view.total > len(actions),
                   next_step=next_step(status))


@tools.tool(title="Approve actions", annotations=CHANGES_FLEET)
async def approve_maintenance_actions(
    ctx: AgentCtx,
    workflow_id: WorkflowId,
    action_ids: Annotated[list[Annotated[str, Field(max_length=40)]] | None,
                          Field(max_length=10_000, description="Ids to approve, e.g. ['A1', 'A4']. Omit to "
                                "approve every planned action.")] = None,
    comment: Annotated[str | None, Field(max_length=2000, description="Why (recorded with the decision).")] = None,
    approver: Annotated[str | None, _approver_field("approves")] = None,
) -> DecisionOut:
    """Approve all or some actions of a run waiting in PENDING-APPROVAL; the approved ones are then executed."""
    settings = settings_of(ctx)
    client = await client_of(ctx)
    result = await call(ops().decide(client, workflow_id, ApprovalRequest(
        approve=True, action_ids=action_ids, approver=deciding_user(settings, approver), comment=comment),
        signed_by=await call(asyncio.to_thread(ops().signer, settings))))
    return DecisionOut(workflow_id=workflow_id, decision=result.decision, approved=result.approved,
                       not_approved=result.skipped,
                       next_step=f"Executing; poll get_maintenance_status('{workflow_id}') and then read the report.")


@tools.tool(title="Reject a plan", annotations=CONTROL)
async def reject_maintenance_plan(
    ctx: AgentCtx,
    workflow_id: WorkflowId,
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="Why the plan is rejected (recorded).")],
    approver: Annotated[str | None, _approver_field("rejects")] = None,
) -> DecisionOut:
    """Reject the whole plan of a run waiting in PENDING-APPROVAL; nothing is executed."""
    settings = settings_of(ctx)
    client = await client_of(ctx)
    result = await call(ops().decide(client, workflow_id, ApprovalRequest(
        approve=False, approver=deciding_user(settings, approver), comment=reason),
        signed_by=await call(asyncio.to_thread(ops().signer, settings))))
    return DecisionOut(workflow_id=workflow_id, decision=result.decision, approved=0, not_approved=result.skipped,
                       next_step=f"Rejected; the run ends REJECTED. Its report: get_maintenance_report('{workflow_id}').")


@tools.tool(title="Run report", annotations=READ_ONLY)
async def get_maintenance_report(ctx: AgentCtx, workflow_id: WorkflowId) -> ReportOut:
    """The finished run's report: summary line, decision, outcome of every action, recommendations."""
    client = await client_of(ctx)
    report = await call(ops().get_report(client, workflow_id))
    status = await call(ops().get_status(client, workflow_id))
    assert status.report is not None
    actions = [ReportActionOut(id=a.id, equipment_id=a.equipment_id, action=a.action, risk=a.risk.value,
                               outcome=a.outcome.value, detail=a.detail, observed=a.observed,
                               changes=changes_text(a.changes)) for a in report.actions[:MAX_ITEMS]]
    return ReportOut(workflow_id=workflow_id, outcome=report.outcome, verdict=report.verdict, executor=report.executor,
                     summary=report.summary,
                     analysis_time=report.analysis_time, decision=report.decision, outcomes=report.outcomes,
                     findings=len(report.findings), actions=actions, actions_shown=len(actions),
                     recommendations=report.recommendations, advisor=report.advisor,
                     markdown_path=status.report.markdown, json_path=status.report.json_path,
                     html_path=status.report.html,
                     resource_uri=f"maintenance://runs/{workflow_id}/report")
