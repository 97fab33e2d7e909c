"""How a maintenance run executes its approved actions and counts what became of them: small plans
inline (one activity per action), large plans in one `SiteExecutionWorkflow` child per site, sites
in parallel, while the run reads the children's progress from the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

from .policies import MAX_PARALLEL_SITES, PROGRESS_INTERVAL
from .runner import ActionRunner
from .site import SiteExecutionWorkflow

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.execution_policy import child_budget, keeps_result, shows_progress
    from ..core.run_text import executed_note, site_child_summary
    from ..models.core import ActionResult, PlannedAction
    from ..models.execution import ExecuteActionInput, RunProgressInput, SiteBatchInput, SiteBatchResult
    from ..models.run import OutcomeCounts

BatchInput = Callable[[str, list[str], int], SiteBatchInput]
"""A site child's input: its site, its action ids and its circuit breaker."""


class PlanExecution:
    """The execution of one run's approved actions: its counts so far and the two ways to run them."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self._show = show
        """Set the run's current details with this note (how far execution has come)."""
        self.counts = OutcomeCounts()
        self.results: list[ActionResult] = []
        self.executed = 0
        self.to_execute = 0
        self.halted = False
        self.site_failures = 0  # runs recorded before the ledger breaker only (see site_failed)
        self.progress = OutcomeCounts()

    async def inline(self, actions: list[PlannedAction], make_input: Callable[[PlannedAction], ExecuteActionInput],
                     max_failures: int, *, ledger_give_ups: bool) -> None:
        """Small plans: one activity per action, in this workflow."""
        runner = ActionRunner(make_input, max_failures, self.record, ledger_give_ups=ledger_give_ups)
        await runner.run_sites(actions)
        self.halted = runner.halted

    def record(self, result: ActionResult) -> None:
        self.counts.add(result.outcome)
        self.executed += 1
        if keeps_result(len(self.results)):
            self.results.append(result)
        if shows_progress(self.executed, self.to_execute):
            self._show(executed_note(self.executed, self.to_execute))

    async def in_children(self, sites: dict[str, list[str]], batch_input: BatchInput, parent_id: str, *,
                          legacy: bool, budget: int, progress: RunProgressInput) -> None:
        """Large plans: one child per site (it continues-as-new in batches), sites in parallel. The
        circuit breaker is fleet-wide: every action checks this run's failures in the ledger before it
        starts (execute_action), so no child can run past it and no client can reset it."""
        slots = asyncio.Semaphore(MAX_PARALLEL_SITES)
        handles: dict[str, workflow.ChildWorkflowHandle] = {}

        async def run_site(site: str, ids: list[str]) -> None:
            async with slots:
                if self.halted:
                    self._add(OutcomeCounts(not_run=len(ids)))
                    return
                handle = await workflow.start_child_workflow(
                    SiteExecutionWorkflow.run,
                    batch_input(site, ids, child_budget(budget, self.site_failures, legacy=legacy)),
                    id=f"{parent_id}/site-{site}",
                    static_summary=site_child_summary(len(ids), site),
                )
                handles[site] = handle
                result: SiteBatchResult = await handle
                handles.pop(site, None)
                self._add(result.counts)
                self.halted = self.halted or (result.halted and not legacy)
                self._show(executed_note(self.executed_now(), self.to_execute))

        async def halt_on_failures() -> None:  # runs recorded before the ledger breaker: children reported by signal
            await workflow.wait_condition(lambda: self.site_failures >= budget)
            self.halted = True
            for handle in list(handles.values()):
                await handle.signal(SiteExecutionWorkflow.halt)

        async def read_progress() -> None:
            while True:
                await workflow.sleep(PROGRESS_INTERVAL, summary="progress")
                self.progress = await workflow.execute_local_activity_method(
                    MaintenanceActivities.run_progress, progress,
                    start_to_close_timeout=timedelta(seconds=30), summary="progress from the ledger")
                self._show(executed_note(self.executed_now(), self.to_execute))

        watcher = asyncio.create_task(halt_on_failures() if legacy else read_progress())
        await asyncio.gather(*(run_site(site, ids) for site, ids in sites.items() if ids))
        watcher.cancel()

    def _add(self, counts: OutcomeCounts) -> None:
        """A site's outcomes (a finished child's, or a halted site's actions, none started)."""
        self.counts.merge(counts)
        self.executed += counts.total

    def executed_now(self) -> int:
        return max(self.executed, self.live().finished)

    def live(self) -> OutcomeCounts:
        """Outcomes so far: finished site children, and the ledger's count of those still running."""
        return self.counts.merge_max(self.progress)
