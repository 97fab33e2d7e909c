"""`SiteExecutionWorkflow`: one site's approved actions of a large plan, in batches, continuing as
new after each so that its history (and a replay after a worker restart) stays small."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from .contracts import SiteParent
from .policies import BATCH_SIZE, GIVE_UP_PATCH, RUN_LEDGER_PATCH, SITE_GRANT_PATCH, STEP_RETRY, STEP_TIMEOUT
from .runner import ActionRunner
from .steps import run_step

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.execution_policy import next_batch, not_started
    from ..core.run_text import NOT_FROM_A_RUN, load_batch_summary, site_refusal
    from ..models.activity_io import LoadActionsInput
    from ..models.approval import GrantCheckInput, GrantRequest
    from ..models.core import Outcome, PlannedAction
    from ..models.execution import ExecuteActionInput, SiteBatchInput, SiteBatchResult


@workflow.defn
class SiteExecutionWorkflow:
    """Executes one site's approved actions of a large plan, in pages, continuing as new."""

    def __init__(self) -> None:
        self._runner: ActionRunner | None = None
        self._halt = False
        self._legacy = True

    @workflow.run
    async def run(self, inp: SiteBatchInput) -> SiteBatchResult:
        self._legacy = legacy = not workflow.patched(RUN_LEDGER_PATCH)
        if workflow.info().continued_run_id is None and workflow.patched(SITE_GRANT_PATCH):
            await self._ask_parent(inp)  # a continued run's input was made by this workflow itself
        counts = inp.counts.model_copy()
        self._halt = (self._halt and legacy) or inp.halted
        parent = workflow.get_external_workflow_handle(inp.parent_workflow_id)

        def make_input(action: PlannedAction) -> ExecuteActionInput:
            return ExecuteActionInput(run_id=inp.run_id, workflow_id=inp.workflow_id or inp.parent_workflow_id,
                                      artifact_dir=inp.artifact_dir, report_dir=inp.report_dir, action=action,
                                      as_of=inp.as_of, actor=inp.actor, approved_by=inp.approved_by,
                                      dry_run=inp.dry_run, rules=inp.rules, max_failures=inp.max_failures)

        runner = self._runner = ActionRunner(make_input, inp.max_failures, lambda r: counts.add(r.outcome),
                                             ledger_give_ups=not legacy and workflow.patched(GIVE_UP_PATCH))
        runner.halted = runner.halted or self._halt
        batch = inp.action_ids[inp.cursor:inp.cursor + BATCH_SIZE]
        if runner.halted:
            counts.add(Outcome.NOT_RUN, not_started(len(inp.action_ids), inp.cursor))
            await workflow.wait_condition(workflow.all_handlers_finished)
            return SiteBatchResult(site=inp.site, counts=counts, halted=True)
        actions = await workflow.execute_activity_method(
            MaintenanceActivities.load_actions, LoadActionsInput(artifact_dir=inp.artifact_dir, action_ids=batch),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY,
            summary=load_batch_summary(inp.cursor, len(batch), len(inp.action_ids), inp.site),
        )
        await runner.run_site(actions)
        if legacy and runner.failures:
            await parent.signal(SiteParent.site_failed, runner.failures)
        cursor = inp.cursor + len(batch)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if cursor < len(inp.action_ids):
            # One batch per run keeps each run's history (and a replay after a worker restart) small.
            workflow.continue_as_new(next_batch(inp, cursor=cursor, counts=counts, halted=runner.halted or self._halt,
                                                failures=runner.failures, legacy=legacy))
        return SiteBatchResult(site=inp.site, counts=counts, halted=runner.halted)

    @staticmethod
    async def _ask_parent(inp: SiteBatchInput) -> None:
        """Run nothing unless the server-given parent is a maintenance run on this task queue that
        approved exactly this batch: otherwise any client could start a site child with a plan of
        its choosing and no approval."""
        parent = workflow.info().parent
        request = GrantRequest(run_id=inp.run_id, artifact_dir=inp.artifact_dir, action_ids=inp.action_ids,
                               approved_by=inp.approved_by, dry_run=inp.dry_run)
        refusal = NOT_FROM_A_RUN if parent is None else await run_step(
            MaintenanceActivities.check_site_grant,
            GrantCheckInput(parent_workflow_id=parent.workflow_id, parent_run_id=parent.run_id, request=request),
            "does the parent run approve this batch?")
        if refusal:
            raise ApplicationError(site_refusal(len(inp.action_ids), inp.site, refusal),
                                   type="NotAuthorized", non_retryable=True)

    @workflow.signal
    def halt(self) -> None:
        """Runs recorded before the ledger-based circuit breaker: the parent's breaker tripped. Ignored
        since: the breaker is in the ledger, and no client can stop or start a child's work by signal."""
        self._halt = True
        if self._runner is not None and self._legacy:
            self._runner.halted = True
