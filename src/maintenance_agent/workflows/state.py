"""What a maintenance run knows so far, in one place, and how it answers its queries and shows
itself (current details, listing card, result) from that. No workflow calls: the workflow fills it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import workflow

from .execution import PlanExecution

with workflow.unsafe.imports_passed_through():
    from ..core.decisions import approval_states
    from ..core.listing import outcome_label
    from ..core.run_text import run_summary
    from ..core.status_text import run_details, run_devices
    from ..models.activity_io import AnalyzeResult, DetectResult, PlanResult
    from ..models.approval import Decision
    from ..models.core import PlannedAction
    from ..models.execution import ExecuteActionInput, SiteBatchInput
    from ..models.listing import RunCard
    from ..models.run import INLINE_LIMIT, MaintenanceInput, MaintenanceResult, Phase, PhaseMark, ReportRef
    from ..models.views import FindingsView, PendingAction, PlanView, ResultsView, RunStatus


@dataclass
class RunState:
    input: MaintenanceInput
    workflow_id: str
    started_at: datetime
    execution: PlanExecution
    phase: Phase = Phase.INITIALIZING
    phases: list[PhaseMark] = field(default_factory=list)
    report_dir: str = ""
    """The run's folder, relative to the worker's REPORTS_DIR (see models.activity_io)."""
    artifact_dir: str = ""
    """Where its detection, analysis and plan are: its folder, or the proactive cycle's it acts on."""
    ledger_key: str = ""
    as_of: datetime | None = None
    detect: DetectResult | None = None
    analysis: AnalyzeResult | None = None
    plan: PlanResult | None = None
    plan_ids: list[str] = field(default_factory=list)
    pending_ids: set[str] = field(default_factory=set)
    actions: dict[str, PlannedAction] = field(default_factory=dict)
    routine_total: int = 0
    advisor_note: str | None = None
    llm_ids: set[str] = field(default_factory=set)
    decision: Decision | None = None
    approved_ids: list[str] | None = None
    """The approved actions where the decision approved only some (None: the whole plan)."""
    deadline: datetime | None = None
    auto_refused: str | None = None
    report: ReportRef | None = None
    error: str | None = None

    def index_plan(self) -> None:
        """Expand the (possibly compact) plan once: every later activation, replay and query reuses it."""
        assert self.plan is not None
        self.plan_ids = self.plan.ids()
        self.pending_ids = set(self.plan_ids)
        self.actions = {a.id: a for a in self.plan.actions}
        self.routine_total = len(self.plan.routine())

    def summary(self, phase: Phase) -> str:
        """The run's line once it is in `phase`: its report's summary, else its error, else the phase."""
        return run_summary(self.report, self.error, phase.value)

    def details(self, note: str) -> str:
        d, executed = self.detect, self.execution.executed_now()
        return run_details(self.phase, note, findings=d.findings_total if d else None,
                           by_severity=d.by_severity if d else None, devices=d.summary.devices if d else None,
                           actions=self.plan.total if self.plan else None, routine=self.routine_total,
                           decision=self.decision, counts=self.execution.live() if executed else None)

    def card(self) -> RunCard:
        counts = self.execution.live()
        return RunCard(outcome=outcome_label(self.phase, counts), phase=self.phase,
                       started_by=self.input.started_by, dry_run=self.input.dry_run,
                       devices=run_devices(self.detect, self.actions.values(), len(self.plan_ids)),
                       findings=self.detect.findings_total if self.detect else 0,
                       actions=self.plan.total if self.plan else 0,
                       decided_by=self.decision.by if self.decision else None, outcomes=counts)

    def result(self, phase: Phase) -> MaintenanceResult:
        d, a, inp = self.detect, self.analysis, self.input
        return MaintenanceResult(
            workflow_id=self.workflow_id, phase=phase, summary=run_summary(self.report, self.error),
            as_of=self.as_of, findings=d.findings_total if d else 0, findings_by_severity=d.by_severity if d else {},
            data_errors=d.data_errors_total if d else 0, warnings=d.warnings if d else [],
            problems=a.problems_total if a else 0, started_by=inp.started_by, started_at=self.started_at,
            dry_run=inp.dry_run, actions=self.plan.total if self.plan else 0, outcomes=self.execution.counts,
            decision=self.decision, report=self.report, error=self.error, phases=self.phases,
        )

    def action_input(self, action: PlannedAction) -> ExecuteActionInput:
        """What execute_action needs for one approved action of this run."""
        inp = self.input
        assert self.decision is not None and self.as_of is not None
        return ExecuteActionInput(
            run_id=self.ledger_key, workflow_id=self.workflow_id, artifact_dir=self.artifact_dir,
            report_dir=self.report_dir, action=action, as_of=self.as_of, actor=inp.started_by,
            approved_by=self.decision.by, dry_run=inp.dry_run, rules=inp.rules, max_failures=inp.max_failures,
        )

    def batch_input(self, site: str, ids: list[str], max_failures: int) -> SiteBatchInput:
        """The input of the site child that executes this run's approved `ids` at `site`."""
        inp = self.input
        assert self.decision is not None and self.as_of is not None
        return SiteBatchInput(run_id=self.ledger_key, workflow_id=self.workflow_id, artifact_dir=self.artifact_dir,
                              report_dir=self.report_dir, site=site, action_ids=ids, as_of=self.as_of,
                              actor=inp.started_by, approved_by=self.decision.by, dry_run=inp.dry_run,
                              rules=inp.rules, parent_workflow_id=self.workflow_id, max_failures=max_failures)

    # -- query answers ---------------------------------------------------------------------------
    def status(self) -> RunStatus:
        pending: list[PendingAction] = []
        awaiting = self.phase is Phase.PENDING_APPROVAL
        if awaiting and self.plan is not None:
            pending = [PendingAction(id=a.id, equipment_id=a.equipment_id, action=a.action.value, risk=a.risk,
                                     confidence=a.confidence, routine=a.routine)
                       for a in list(self.actions.values())[:INLINE_LIMIT]]
        d, inp = self.detect, self.input
        return RunStatus(
            workflow_id=self.workflow_id, phase=self.phase, started_by=inp.started_by, started_at=self.started_at,
            as_of=self.as_of, dry_run=inp.dry_run, findings=d.findings_total if d else 0,
            findings_by_severity=d.by_severity if d else {}, data_errors=d.data_errors_total if d else 0,
            warnings=d.warnings if d else [], problems=self.analysis.problems_total if self.analysis else 0,
            actions=self.plan.total if self.plan else 0, pending_actions=pending,
            pending_total=self.plan.total if self.plan and awaiting else 0,
            approval_deadline=self.deadline, decision=self.decision, outcomes=self.execution.live(),
            executed=self.execution.executed_now(), to_execute=self.execution.to_execute, report=self.report,
            error=self.error, parent_workflow_id=inp.parent_workflow_id, phases=self.phases,
            auto_approve_refused=self.auto_refused,
        )

    def findings_view(self) -> FindingsView:
        if self.detect is None:
            return FindingsView(total=0, findings=[])
        return FindingsView(total=self.detect.findings_total, findings=self.detect.findings,
                            truncated=self.detect.findings_total > len(self.detect.findings),
                            artifact=f"{self.artifact_dir}/detection.json")

    def plan_view(self) -> PlanView:
        if self.plan is None:
            return PlanView(total=0, actions=[])
        default, approval = approval_states(self.decision, self.approved_ids)
        actions = list(self.actions.values())
        return PlanView(total=self.plan.total, actions=actions, approval=approval, default_approval=default,
                        truncated=self.plan.total > len(actions), artifact=f"{self.artifact_dir}/plan.json",
                        decision=self.decision)

    def results_view(self) -> ResultsView:
        x = self.execution
        return ResultsView(total=x.executed, results=x.results, outcomes=x.counts, truncated=x.executed > len(x.results))
