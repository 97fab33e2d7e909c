"""One cycle of the proactive agent: detect, analyze and plan (leaving out what already awaits
approval), run the routine actions, propose the rest in an approval run of their own, tell people,
and page or resolve the agent's failed-cycles incident. The rules are in core/agent.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

from .maintenance import InfrastructureMaintenanceWorkflow
from .open_runs import OpenApprovalRuns
from .policies import AGENT_PAGES_PATCH, NOTIFY_BUDGET, NOTIFY_RETRY
from .starter import worker_policy
from .steps import cause_message, run_step, send_page

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.agent import (
        asks_routine_hold,
        cycle_failure_notice,
        cycle_notice,
        cycle_run_input,
        excluded_plans,
        split_cycle_plan,
    )
    from ..core.approval import auto_approval_refusal
    from ..core.pagerduty import cycle_failure_page
    from ..core.status_text import (
        approval_run_summary,
        cycle_analyze_summary,
        cycle_detect_summary,
        cycle_detecting,
        cycle_found,
        cycle_notifying,
        cycle_plan_summary,
        cycle_planning,
        cycle_routine,
        cycle_run_details,
        notify_summary,
        routine_run_summary,
    )
    from ..models.activity_io import AnalyzeInput, DetectInput, PlanInput, PlanResult
    from ..models.notify import NotifyInput, PageEvent
    from ..models.proactive import CycleSummary, OpenApproval, ProactiveInput, ProactivePhase, ProactiveState
    from ..models.run import MaintenanceResult


class AgentCycle:
    """The steps of one cycle, filling its `CycleSummary`; a failed step ends the cycle, not the agent."""

    def __init__(self, agent_id: str, inp: ProactiveInput, state: ProactiveState, open_runs: OpenApprovalRuns,
                 set_phase: Callable[[ProactivePhase, str], None]) -> None:
        self._wid, self._input, self._state, self._open, self._set_phase = agent_id, inp, state, open_runs, set_phase

    async def run(self, summary: CycleSummary, cycle_dir: str) -> None:
        inp, st, n = self._input, self._state, summary.cycle
        try:
            self._set_phase(ProactivePhase.MONITORING, cycle_detecting(n))
            summary.triggered_by, st.alert_triggers = st.alert_triggers, []
            summary.alerts_held = len(st.alerts)
            detect = await run_step(MaintenanceActivities.detect_fleet,
                                    DetectInput(run_id=f"{self._wid}/cycle-{n}", artifact_dir=cycle_dir, rules=inp.rules,
                                                alerts=list(st.alerts)),
                                    cycle_detect_summary(n))
            summary.as_of, summary.findings = detect.as_of, detect.findings_total
            summary.findings_by_severity = detect.by_severity
            self._set_phase(ProactivePhase.ANALYZING, cycle_found(n, detect.findings_total))
            await run_step(MaintenanceActivities.analyze_findings, AnalyzeInput(artifact_dir=cycle_dir),
                           cycle_analyze_summary(n))
            self._set_phase(ProactivePhase.PLANNING, cycle_planning(n))
            await self._open.forget_closed()
            partly, entirely = excluded_plans(st.open_approvals)
            plan = await run_step(MaintenanceActivities.plan_maintenance,
                                  PlanInput(artifact_dir=cycle_dir, as_of=detect.as_of, rules=inp.rules,
                                            exclude_plans=partly, exclude_plans_entirely=entirely),
                                  cycle_plan_summary(n, len(st.open_approvals)))
            summary.planned, summary.excluded_pending = plan.total, plan.excluded
            routine_ids = plan.routine()
            if asks_routine_hold(inp.auto_execute_routine, routine_ids):
                # Routine work is pre-approved by its starter: only if they may approve.
                summary.routine_held = auto_approval_refusal(inp.started_by, await worker_policy(inp))
            split = split_cycle_plan(plan.ids(), routine_ids, auto_execute=inp.auto_execute_routine,
                                     held=summary.routine_held)
            if split.routine:
                self._set_phase(ProactivePhase.EXECUTING, cycle_routine(n, len(split.routine)))
                result = await self._run_routine(n, cycle_dir, split.routine, detect.as_of, plan)
                summary.routine_run, summary.routine_executed = result.workflow_id, len(split.routine)
                summary.routine_outcomes = result.outcomes
            if split.others:
                summary.approval_run = await self._propose(n, cycle_dir, split.others, detect.as_of, plan,
                                                           includes_routine=split.includes_routine)
                summary.proposed_for_approval = len(split.others)
            if notice := cycle_notice(summary, inp, self._wid):
                await self.notify(summary, notice)
            if st.cycle_failure_paged and workflow.patched(AGENT_PAGES_PATCH):
                await send_page(cycle_failure_page(PageEvent.RESOLVE, self._wid, inp.started_by, n))
                st.cycle_failure_paged = False
        except (ActivityError, ChildWorkflowError) as err:
            summary.error = cause_message(err)
            workflow.logger.error("cycle %d failed: %s", n, summary.error)
            await self.notify(summary, cycle_failure_notice(summary, inp, self._wid))
            if workflow.patched(AGENT_PAGES_PATCH):
                st.cycle_failure_paged = True
                await send_page(cycle_failure_page(PageEvent.TRIGGER, self._wid, inp.started_by, n, summary.error))

    def _details(self, n: int, kind: str, ids: list[str], plan: PlanResult) -> str:
        return cycle_run_details(self._wid, n, kind, self._input.started_by, ids, plan,
                                 self._input.approval_timeout_seconds / 3600)

    async def _run_routine(self, n: int, cycle_dir: str, ids: list[str], as_of: datetime,
                           plan: PlanResult) -> MaintenanceResult:
        """Run the cycle's routine actions (auto-approved by the agent's starter) and wait for them."""
        inp, details = self._input, self._details(n, "routine", ids, plan)
        return await workflow.execute_child_workflow(
            InfrastructureMaintenanceWorkflow.run,
            cycle_run_input(inp, agent_workflow_id=self._wid, cycle_dir=cycle_dir, ids=ids, as_of=as_of, cycle=n,
                            auto_approve=True),
            id=f"{self._wid}-cycle-{n}-routine-{str(workflow.uuid4())[:8]}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=routine_run_summary(n, len(ids), inp.started_by), static_details=details,
            memo={"cycle": n, "artifact_dir": cycle_dir, "actions": len(ids), "kind": "routine", "by": inp.started_by},
        )

    async def _propose(self, n: int, cycle_dir: str, ids: list[str], as_of: datetime, plan: PlanResult, *,
                       includes_routine: bool) -> str:
        """Start the approval run and let it wait on its own: the next cycles keep going."""
        inp, details = self._input, self._details(n, "approval", ids, plan)
        handle = await workflow.start_child_workflow(
            InfrastructureMaintenanceWorkflow.run,
            cycle_run_input(inp, agent_workflow_id=self._wid, cycle_dir=cycle_dir, ids=ids, as_of=as_of, cycle=n,
                            auto_approve=False),
            id=f"{self._wid}-cycle-{n}-approval-{str(workflow.uuid4())[:8]}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=approval_run_summary(n, len(ids), inp.started_by),
            static_details=details,
            memo={"cycle": n, "artifact_dir": cycle_dir, "actions": len(ids), "kind": "approval",
                  "by": inp.started_by, "includes_routine": includes_routine},
        )
        self._open.started(OpenApproval(workflow_id=handle.id, cycle=n, artifact_dir=cycle_dir, actions=len(ids),
                                        started_at=workflow.now(), includes_routine=includes_routine))
        return handle.id

    async def notify(self, summary: CycleSummary, message: NotifyInput) -> None:
        """Send the message within the notification budget; a dead webhook never fails the agent."""
        self._set_phase(ProactivePhase.NOTIFYING, cycle_notifying(summary.cycle))
        try:
            result = await workflow.execute_activity_method(
                MaintenanceActivities.notify, message, schedule_to_close_timeout=NOTIFY_BUDGET,
                start_to_close_timeout=timedelta(seconds=15), retry_policy=NOTIFY_RETRY,
                summary=notify_summary(message.kind))
            summary.notified = result.delivered
        except ActivityError as err:
            summary.notification_error = cause_message(err)
