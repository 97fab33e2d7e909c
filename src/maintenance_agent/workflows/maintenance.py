"""`InfrastructureMaintenanceWorkflow`: one DAPER run over the fleet, with human approval and an
honest report. Detect, analyze and plan (pipeline.py), decide (at start, by a person, or by the
deadline), execute (execution.py) and report. The rules that decide are pure functions of the core;
this workflow orders the steps and records what those rules decide in its state (state.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from .contracts import AgentParent, SiteParent
from .execution import PlanExecution
from .listing import RunListing
from .pipeline import assess
from .policies import (
    GIVE_UP_PATCH,
    LISTING_PATCH,
    PAGERDUTY_PATCH,
    PROVE_FIRST_PATCH,
    RUN_LEDGER_PATCH,
    STARTER_PROOF_PATCH,
)
from .starter import NotProven, prove_starter, refuse_unsafe_names, worker_policy
from .state import RunState
from .steps import cause_message, run_step, send_page

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core import identity
    from ..core.approval import (
        ApprovalRejected,
        check_decision,
        decision_proof_refusal,
        grant_refusal,
        requested_policy,
    )
    from ..core.decisions import (
        apply_request,
        counts_as_signed,
        decision_at_start,
        end_phase,
        expired_decision,
        to_execute,
    )
    from ..core.execution_policy import approved_in_order, approved_per_site, executes_inline
    from ..core.pagerduty import page_event, run_page
    from ..core.run_text import REPORTING, decision_refused, executing_note, pending_approval_note
    from ..models.activity_io import CompactInput, ReportInput
    from ..models.approval import ApprovalRequest, ApprovalResult, GrantRequest
    from ..models.execution import ClaimRunInput, RunProgressInput
    from ..models.notify import PageEvent
    from ..models.proactive import ChildOutcome
    from ..models.run import MaintenanceInput, MaintenanceResult, Phase, PhaseMark, ReportRef
    from ..models.views import FindingsView, PlanView, ResultsView, RunStatus


@workflow.defn
class InfrastructureMaintenanceWorkflow(SiteParent):
    """One DAPER run over the fleet, with human approval and an honest report."""

    @workflow.init
    def __init__(self, inp: MaintenanceInput) -> None:
        self._wid = wid = workflow.info().workflow_id
        self._exec = PlanExecution(self._show)
        started = workflow.now()
        self._s = RunState(input=inp, workflow_id=wid, started_at=started, execution=self._exec,
                           phases=[PhaseMark(phase=Phase.INITIALIZING, at=started)], report_dir=wid,
                           artifact_dir=inp.source_plan.artifact_dir if inp.source_plan else wid, ledger_key=wid)
        # What the validator enforces: the client's request until the worker's policy is in (first step).
        self._policy = requested_policy(inp)
        self._proof_required = False
        self._nonces: set[str] = set()
        self._proposal_page: asyncio.Task[None] | None = None
        """The PagerDuty trigger for a proposal, sent while the run waits (its resolve goes after it)."""
        self._listing = RunListing()

    # -- the run ---------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
        s = self._s
        refuse_unsafe_names(self._wid, inp.started_by)
        proved_first = workflow.patched(PROVE_FIRST_PATCH)
        if proved_first:
            try:
                await self._check_starter(inp)
            except (ActivityError, NotProven) as err:  # nobody's run: no folder, no report
                raise ApplicationError(cause_message(err), type="NotProven", non_retryable=True) from None
        if workflow.patched(RUN_LEDGER_PATCH):
            # The first run of this execution chain: stable across resets, never shared with a later run
            # that reuses the workflow id (whose actions must not be mistaken for ours).
            s.ledger_key = workflow.info().first_execution_run_id
            try:
                await run_step(MaintenanceActivities.claim_run,
                               ClaimRunInput(report_dir=s.report_dir, run_id=s.ledger_key, workflow_id=self._wid),
                               "claim the run's report folder")
            except ActivityError as err:  # no report: the folder is another run's
                raise ApplicationError(cause_message(err), type="WorkflowIdReused", non_retryable=True) from None
        try:
            if workflow.patched(LISTING_PATCH):
                await self._listing.start()
                self._publish()
            if not proved_first:  # histories recorded before: the check was part of the run, with a report
                await self._check_starter(inp)
            await assess(s, self._set_phase)
            assert s.plan is not None
            if s.plan.total == 0:
                return await self._finish(Phase.NO_ACTION_NEEDED)
            await self._decide(inp)
            assert s.decision is not None
            if (ended := end_phase(s.decision)) is not None:
                return await self._finish(ended)
            await self._execute(inp)
            return await self._finish(Phase.COMPLETED)
        except (ActivityError, ChildWorkflowError, NotProven) as err:
            s.error = cause_message(err)
            workflow.logger.error("maintenance run failed: %s", s.error)
            await self._finish(Phase.FAILED)
            raise ApplicationError(s.error, type="MaintenanceRunFailed", non_retryable=True) from None

    async def _check_starter(self, inp: MaintenanceInput) -> None:
        """The worker's approval policy; where it requires proof, the starter's (`NotProven` if not)."""
        self._policy = await worker_policy(inp)
        self._proof_required = self._policy.require_proof and workflow.patched(STARTER_PROOF_PATCH)
        if self._proof_required:
            await prove_starter(inp, self._wid, self._policy, identity.START)

    async def _decide(self, inp: MaintenanceInput) -> None:
        s = self._s
        assert s.plan is not None
        start = decision_at_start(started_by=inp.started_by, auto_approve=inp.auto_approve, policy=self._policy,
                                  for_agent=inp.source_plan is not None, plan_ids=s.plan_ids, llm_ids=s.llm_ids,
                                  signed=self._proof_required, now=workflow.now())
        s.auto_refused = start.refused
        if start.decision is not None:
            s.decision, s.approved_ids = start.decision, start.approved_ids
            return
        s.deadline = workflow.now() + timedelta(seconds=inp.approval_timeout_seconds)
        self._set_phase(Phase.PENDING_APPROVAL, pending_approval_note(s.auto_refused, s.plan.total, s.deadline))
        if inp.source_plan is not None and inp.parent_workflow_id and workflow.patched(PAGERDUTY_PATCH):
            # In the background: a slow or dead PagerDuty never delays the approval it is about.
            self._proposal_page = asyncio.create_task(self._page(PageEvent.TRIGGER, "approval_needed"))
        try:
            await workflow.wait_condition(lambda: s.decision is not None,
                                          timeout=timedelta(seconds=inp.approval_timeout_seconds),
                                          timeout_summary="approval deadline")
        except TimeoutError:
            s.decision = expired_decision(inp.approval_timeout_seconds, workflow.now())

    async def _execute(self, inp: MaintenanceInput) -> None:
        s = self._s
        assert s.plan is not None
        approved = to_execute(s.plan_ids, s.approved_ids)
        self._exec.to_execute = len(approved)
        self._set_phase(Phase.EXECUTING, executing_note(len(approved), dry_run=inp.dry_run))
        if executes_inline(len(s.plan_ids), len(s.actions)):
            await self._exec.inline([s.actions[i] for i in approved_in_order(s.plan_ids, approved)], s.action_input,
                                    inp.max_failures,
                                    ledger_give_ups=s.ledger_key != self._wid and workflow.patched(GIVE_UP_PATCH))
        else:
            await self._exec.in_children(
                approved_per_site(s.plan.by_site_ids(), approved),
                s.batch_input, self._wid, legacy=s.ledger_key == self._wid, budget=inp.max_failures,
                progress=RunProgressInput(run_id=s.ledger_key, report_dir=s.report_dir, dry_run=inp.dry_run))
        if not inp.dry_run:
            await run_step(MaintenanceActivities.compact_store, CompactInput(),
                           "write committed changes into the fleet files")

    @workflow.signal
    def site_failed(self, count: int) -> None:
        """Runs recorded before the ledger-based circuit breaker: a site child's failures. Ignored by any
        run since (a client could send any number), which count failures in the ledger."""
        if self._s.ledger_key == self._wid and count > 0:
            self._exec.site_failures += count

    async def _finish(self, phase: Phase) -> MaintenanceResult:
        s, inp = self._s, self._s.input
        self._set_phase(Phase.REPORTING, REPORTING)
        try:
            s.report = await run_step(
                MaintenanceActivities.write_report,
                ReportInput(workflow_id=self._wid, run_id=s.ledger_key, artifact_dir=s.artifact_dir,
                            report_dir=s.report_dir, started_by=inp.started_by, started_at=s.started_at,
                            finished_at=workflow.now(), phase=phase, dry_run=inp.dry_run, decision=s.decision,
                            approved_ids=s.approved_ids,
                            selected_ids=inp.source_plan.action_ids if inp.source_plan else None,
                            error=s.error, halted=self._exec.halted, advisor_note=s.advisor_note),
                "report: what was found, decided and done",
            )
        except ActivityError as err:
            if phase is not Phase.FAILED:
                raise
            workflow.logger.error("could not write the failure report: %s", cause_message(err))
        self._set_phase(phase, s.summary(phase))
        if inp.source_plan is not None and workflow.patched(PAGERDUTY_PATCH):
            # Before telling the agent: it expects the run to close right after that signal.
            if self._proposal_page is not None:
                await self._proposal_page  # the trigger first: a resolve must never overtake it
            if event := page_event(phase, self._exec.counts, proposed=self._proposal_page is not None):
                await self._page(event, "run_finished", phase)
        if inp.parent_workflow_id:
            await self._tell_parent(inp.parent_workflow_id, phase)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return s.result(phase)

    async def _page(self, event: PageEvent, kind: str, phase: Phase | None = None) -> None:
        """One PagerDuty event about this run (keyed by its workflow id). Never fails the run."""
        s, inp, parent = self._s, self._s.input, workflow.info().parent
        await send_page(run_page(
            event, kind, workflow_id=self._wid,
            agent_workflow_id=inp.parent_workflow_id or (parent.workflow_id if parent else None),
            started_by=inp.started_by, cycle=inp.source_plan.cycle if inp.source_plan else None, plan=s.plan,
            phase=phase, outcomes=self._exec.counts, error=s.error, report_dir=s.report_dir if s.report else None))

    async def _tell_parent(self, parent_id: str, phase: Phase) -> None:
        """Let the proactive agent that started this run know it is over (it stops tracking it)."""
        outcome = ChildOutcome(workflow_id=self._wid, phase=phase, summary=self._s.summary(phase))
        try:
            await workflow.get_external_workflow_handle(parent_id).signal(AgentParent.child_finished, outcome)
        except Exception as err:  # noqa: BLE001 - the agent may have been stopped; this run is still done
            workflow.logger.warning("could not tell %s that %s finished: %s", parent_id, self._wid, err)

    def _set_phase(self, phase: Phase, note: str) -> None:
        s = self._s
        s.phase = phase
        if s.phases[-1].phase is not phase:
            s.phases.append(PhaseMark(phase=phase, at=workflow.now()))
        self._show(note)
        self._publish()

    def _show(self, note: str) -> None:
        workflow.set_current_details(self._s.details(note))

    def _publish(self) -> None:
        if self._listing.enabled:
            s = self._s
            self._listing.publish(s.card(), started_by=s.input.started_by, phase=s.phase,
                                  by_site=s.plan.by_site if s.plan else None)

    # -- approval --------------------------------------------------------------------------------
    @workflow.update
    async def decide(self, request: ApprovalRequest) -> ApprovalResult:
        """Approve all or some planned actions, or reject the plan (recorded with who and when)."""
        s = self._s
        assert s.plan is not None
        if request.proof is not None:
            self._nonces.add(request.proof.nonce)
        applied = apply_request(request, plan_ids=s.plan_ids, pending_ids=s.pending_ids, total=s.plan.total,
                                signed=counts_as_signed(request, proof_required=self._proof_required), now=workflow.now())
        if applied.approved_ids is not None:
            s.approved_ids = applied.approved_ids
        s.decision = applied.decision
        return applied.result

    @decide.validator
    def _validate_decision(self, request: ApprovalRequest) -> None:
        s = self._s
        try:
            check_decision(request, phase=s.phase, decided=s.decision is not None, pending_ids=s.pending_ids,
                           approvers=self._policy.approvers, started_by=s.input.started_by,
                           require_distinct_approver=self._policy.require_distinct_approver)
        except ApprovalRejected as exc:
            raise ApplicationError(str(exc), type="ApprovalRejected", non_retryable=True) from None
        if self._proof_required:
            problem = decision_proof_refusal(request, self._wid, workflow.info().run_id, self._policy.keys,
                                             workflow.now(), self._nonces)
            if problem:
                raise ApplicationError(decision_refused(problem), type="ApprovalRejected", non_retryable=True)

    # -- queries ---------------------------------------------------------------------------------
    @workflow.query
    def status(self) -> RunStatus:
        return self._s.status()

    @workflow.query
    def findings(self) -> FindingsView:
        return self._s.findings_view()

    @workflow.query
    def plan(self) -> PlanView:
        return self._s.plan_view()

    @workflow.query
    def results(self) -> ResultsView:
        return self._s.results_view()

    @workflow.query
    def report(self) -> ReportRef | None:
        return self._s.report

    @workflow.query
    def grant(self, request: GrantRequest) -> str | None:
        """Why this run does not authorize a site child to execute `request` now, or None if it does
        (a site child asks before it runs anything: a client could start one with any input)."""
        s = self._s
        return grant_refusal(request, phase=s.phase, decision=s.decision, run_id=s.ledger_key,
                             artifact_dir=s.artifact_dir, dry_run=s.input.dry_run,
                             approved_ids=set(to_execute(s.plan_ids, s.approved_ids)))
