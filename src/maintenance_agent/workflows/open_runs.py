"""The approval runs a proactive agent started and still waits on (kept in its `ProactiveState`, so
they cross continue-as-new). A cycle does not propose their actions again. A run that says it is
over is believed only once the server confirms it: anyone can send that signal, and a forged one
would make the agent propose the run's actions again."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from .policies import FORGET_CLOSED_APPROVALS_PATCH, STEP_RETRY

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.status_text import still_open_summary
    from ..models.proactive import ChildOutcome, OpenApproval, ProactiveState, StillOpenInput


class OpenApprovalRuns:
    def __init__(self, state: ProactiveState) -> None:
        self._state = state
        self.finished: dict[str, ChildOutcome] = {}
        """Runs that said they are over, not yet confirmed by the server."""
        self.confirm_finished = False
        """Histories recorded before confirmations (False): a run that says it is over is forgotten at once."""
        self.recheck = False
        """Ask the server which runs are still open before the next cycle."""

    def started(self, approval: OpenApproval) -> None:
        if approval.workflow_id not in self.finished or self.confirm_finished:  # it may have finished (and said so) already
            self._state.track(approval)
            self.recheck = self.recheck or approval.workflow_id in self.finished

    def said_finished(self, outcome: ChildOutcome) -> None:
        self.finished[outcome.workflow_id] = outcome
        if self.confirm_finished:
            self.recheck = True
        else:  # histories recorded before: the run was forgotten at once
            self._state.forget(outcome.workflow_id)

    async def forget_closed(self) -> None:
        """Drop open approval runs that ended (and those that ended without telling us: terminated, cancelled)."""
        st = self._state
        if not st.open_approvals or not workflow.patched(FORGET_CLOSED_APPROVALS_PATCH):
            return
        open_ids = st.open_ids()
        running = set(await workflow.execute_activity_method(
            MaintenanceActivities.still_open,
            StillOpenInput(workflow_ids=sorted(open_ids), said_finished=sorted(set(open_ids) & set(self.finished))),
            start_to_close_timeout=timedelta(seconds=60), retry_policy=STEP_RETRY,
            summary=still_open_summary(len(open_ids))))
        for workflow_id in [w for w in st.open_ids() if w not in running]:
            st.forget(workflow_id)
        for workflow_id in running:  # said it was over but is still running: not believed (nor waited on) again
            self.finished.pop(workflow_id, None)
