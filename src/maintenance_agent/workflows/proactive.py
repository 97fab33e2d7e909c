"""`ProactiveMaintenanceWorkflow`: the agent that watches the fleet forever. A DAPER cycle every
interval; routine repairs run on their own, everything else is proposed for approval in a run of its
own, so a pending question never blocks monitoring. What it carries across continue-as-new is one
model (`ProactiveState`); the rules of a cycle are in core/agent.py, its text in core/status_text.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from .contracts import AgentParent
from .cycle import AgentCycle
from .open_runs import OpenApprovalRuns
from .policies import (
    AGENT_PAGES_PATCH,
    AGENT_PROOF_PATCH,
    CONFIRM_FINISHED_PATCH,
    CYCLE_DIR_PATCH,
    CYCLE_NUMBERS_PATCH,
    STEP_RETRY,
)
from .starter import NotProven, prove_starter, refuse_unsafe_names, worker_policy
from .steps import cause_message

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core import identity
    from ..core.agent import continues_as_new, cycle_folder, interval_allowed, next_cycle
    from ..core.alerts import merge
    from ..core.status_text import (
        AGENT_STOPPING,
        ALERTS_WHILE_STOPPING,
        INTERVAL_OUT_OF_RANGE,
        PAUSED,
        agent_details,
        alert_receipt_note,
        cycle_line,
        stopped_note,
        waiting_note,
    )
    from ..models.alerts import MAX_HELD_ALERTS, AlertNotification, AlertReceipt
    from ..models.proactive import (
        ChildOutcome,
        CycleSummary,
        LastCycleInput,
        OpenChildrenInput,
        ProactiveInput,
        ProactivePhase,
        ProactiveStatus,
        SetIntervalRequest,
    )


@workflow.defn
class ProactiveMaintenanceWorkflow(AgentParent):
    """Watches the fleet forever: a DAPER cycle every interval, routine repairs on its own, everything
    else proposed for approval in a separate run so a pending question never blocks monitoring."""

    @workflow.init
    def __init__(self, inp: ProactiveInput) -> None:
        self._input = inp
        self._wid = workflow.info().workflow_id
        self._state = inp.state()
        self._state.starter_verified = False  # until this run has checked it (see _prove_starter)
        self._phase = ProactivePhase.INITIALIZING
        self._stop = False
        self._wake = False
        self._open = OpenApprovalRuns(self._state)
        self._next_at: datetime | None = None
        self._last_end: datetime | None = None

    @workflow.run
    async def run(self, inp: ProactiveInput) -> CycleSummary | None:
        st = self._state
        refuse_unsafe_names(self._wid, inp.started_by)
        self._open.confirm_finished = workflow.patched(CONFIRM_FINISHED_PATCH)
        if workflow.patched(AGENT_PROOF_PATCH):
            await self._prove_starter(inp)
        if inp.cycle == 0 and not inp.open_approvals:
            # A previous incarnation of this agent may have left approvals open: do not repeat them.
            for found in await workflow.execute_activity_method(
                    MaintenanceActivities.list_open_approvals, OpenChildrenInput(prefix=f"{self._wid}-cycle-"),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=STEP_RETRY,
                    summary="find approvals left open by an earlier agent"):
                st.track(found, replace=False)
        if inp.cycle == 0 and workflow.info().continued_run_id is None:
            await self._continue_numbering()
        cycles_this_run = 0
        first = inp.cycle == 0
        while not self._stop:
            if not first:
                await self._wait_for_next_cycle()
                if self._stop:
                    break
            first = False
            st.trigger_pending = False
            await self._run_cycle()
            cycles_this_run += 1
            if continues_as_new(cycles_this_run, limit=self._input.continue_as_new_after_cycles,
                                suggested=workflow.info().is_continue_as_new_suggested(), stopping=self._stop):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._input.carrying(
                    st.model_copy(update={"continue_as_new_count": st.continue_as_new_count + 1})))
        self._next_at = None
        self._set_phase(ProactivePhase.STOPPED, stopped_note(st.cycle))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return st.last_cycle

    async def _continue_numbering(self) -> None:
        """A new incarnation (a start, not a continue-as-new) goes on from the last cycle an earlier one
        left a folder for: two different "cycle 1" messages from one agent would be ambiguous."""
        if workflow.patched(CYCLE_NUMBERS_PATCH):
            try:
                self._state.cycle = await workflow.execute_activity_method(
                    MaintenanceActivities.last_cycle, LastCycleInput(agent_workflow_id=self._wid),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=STEP_RETRY,
                    summary="the last cycle number of earlier incarnations")
            except ActivityError as err:  # numbering from 1 again is better than no monitoring
                workflow.logger.warning("cycles are numbered from 1: %s", cause_message(err))
        if workflow.patched(AGENT_PAGES_PATCH):
            # An earlier incarnation may have left its failed-cycles incident open: a clean cycle resolves it.
            self._state.cycle_failure_paged = True

    async def _prove_starter(self, inp: ProactiveInput) -> None:
        """Where the worker requires proof, the agent acts for its starter only if they signed its start
        (checked by the first run; a continued run is made by the agent itself, so it keeps the result)."""
        if inp.starter_verified and workflow.info().continued_run_id is not None:
            self._state.starter_verified = True
            return
        policy = await worker_policy(inp)
        if not policy.require_proof:
            return
        try:
            await prove_starter(inp, self._wid, policy, identity.START_AGENT)
        except NotProven as exc:
            raise ApplicationError(str(exc), type="NotProven", non_retryable=True) from None
        self._state.starter_verified = True

    # -- timing ---------------------------------------------------------------------------------
    async def _wait_for_next_cycle(self) -> None:
        st = self._state
        while True:
            if self._stop or st.trigger_pending:
                return
            if st.paused:
                self._next_at = None
                self._set_phase(ProactivePhase.PAUSED, PAUSED)
                await workflow.wait_condition(lambda: not st.paused or self._stop or st.trigger_pending)
                continue
            upcoming = next_cycle(self._last_end, workflow.now(), st.interval_seconds)
            self._next_at = upcoming.at
            if upcoming.due:
                return
            self._set_phase(ProactivePhase.WAITING, waiting_note(upcoming.at))
            self._wake = False
            try:
                await workflow.wait_condition(
                    lambda: self._wake or self._stop or st.trigger_pending or st.paused or self._open.recheck,
                    timeout=timedelta(seconds=upcoming.wait_seconds), timeout_summary="next cycle")
            except TimeoutError:
                return
            if self._open.recheck:
                self._open.recheck = False
                await self._open.forget_closed()

    # -- one cycle -------------------------------------------------------------------------------
    async def _run_cycle(self) -> None:
        st = self._state
        st.cycle += 1
        started = workflow.now()
        cycle_dir = cycle_folder(self._wid, workflow.info().first_execution_run_id
                                 if workflow.patched(CYCLE_DIR_PATCH) else None, st.cycle)
        summary = CycleSummary(cycle=st.cycle, started_at=started, finished_at=started, artifact_dir=cycle_dir)
        await AgentCycle(self._wid, self._input, st, self._open, self._set_phase).run(summary, cycle_dir)
        summary.finished_at = self._last_end = workflow.now()
        summary.summary = cycle_line(summary)
        st.last_cycle = summary

    def _set_phase(self, phase: ProactivePhase, note: str) -> None:
        st = self._state
        self._phase = phase
        workflow.set_current_details(agent_details(
            phase, note, cycle=st.cycle, interval_seconds=st.interval_seconds,
            auto_execute_routine=self._input.auto_execute_routine, open_approvals=st.open_ids(),
            last_cycle=st.last_cycle))

    # -- signals, updates, queries ---------------------------------------------------------------
    @workflow.signal
    def trigger_now(self) -> None:
        """Run a cycle now (even when paused)."""
        self._state.trigger_pending = True

    @workflow.update
    def receive_alerts(self, note: AlertNotification) -> AlertReceipt:
        """An Alertmanager notification, from the receiver: a new firing alert starts a cycle now
        (unless paused), a repeat of one held starts nothing, a resolved one is let go."""
        st = self._state
        merged = merge(st.alerts, note.alerts)
        st.alerts = merged.held
        triggered = bool(merged.new) and not st.paused
        if merged.new:
            st.alert_triggers = [*st.alert_triggers, *(a.describe() for a in merged.new)][-20:]
        if triggered:
            st.trigger_pending = True
        return AlertReceipt(new=len(merged.new), repeated=merged.repeated, resolved=len(merged.resolved),
                            held=len(st.alerts), triggered=triggered, note=alert_receipt_note(merged, st.paused))

    @receive_alerts.validator
    def _validate_alerts(self, note: AlertNotification) -> None:
        if self._stop:
            raise ApplicationError(ALERTS_WHILE_STOPPING, type="AgentStopping", non_retryable=True)
        if len(merge(self._state.alerts, note.alerts).held) > MAX_HELD_ALERTS:
            raise ApplicationError(f"the agent holds at most {MAX_HELD_ALERTS} firing alerts; this notification "
                                   f"would hold more", type="TooManyAlerts", non_retryable=True)

    @workflow.signal
    def pause(self) -> None:
        self._state.paused = True

    @workflow.signal
    def resume(self) -> None:
        self._state.paused = False

    @workflow.signal
    def stop(self) -> None:
        """Finish the current cycle, then complete. Open approval runs keep running on their own."""
        self._stop = True

    @workflow.update
    def set_interval(self, request: SetIntervalRequest) -> ProactiveStatus:
        self._state.interval_seconds = request.minutes * 60
        self._wake = True
        return self.status()

    @set_interval.validator
    def _validate_interval(self, request: SetIntervalRequest) -> None:
        if not interval_allowed(request.minutes):
            raise ApplicationError(INTERVAL_OUT_OF_RANGE, type="InvalidInterval", non_retryable=True)
        if self._stop:
            raise ApplicationError(AGENT_STOPPING, type="AgentStopping", non_retryable=True)

    @workflow.signal
    def child_finished(self, outcome: ChildOutcome) -> None:
        """An approval run this agent started says it is over (decided, expired or failed). Any client
        can send this, so it is taken as a hint: the agent asks the server before it forgets the run
        (else a forged signal would make it propose the run's actions again)."""
        self._open.said_finished(outcome)

    @workflow.query
    def status(self) -> ProactiveStatus:
        st = self._state
        return ProactiveStatus(
            workflow_id=self._wid, phase=self._phase, started_by=self._input.started_by, cycle=st.cycle,
            interval_seconds=st.interval_seconds, auto_execute_routine=self._input.auto_execute_routine,
            paused=st.paused, stop_requested=self._stop, next_cycle_at=self._next_at, last_cycle=st.last_cycle,
            open_approvals=sorted(st.open_approvals, key=lambda o: o.workflow_id),
            run_id=workflow.info().run_id, continued_as_new=st.continue_as_new_count,
            starter_verified=st.starter_verified, alerts=list(st.alerts),
        )
