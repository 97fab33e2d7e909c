"""The action runner both the maintenance run and its site children use, with the safety rules:
at most one disruptive action at a time per site (in plan order) beside a few non-disruptive ones,
sites in parallel, and a circuit breaker that starts no new action after `max_failures` failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from .policies import ACTION_HEARTBEAT, ACTION_RETRY, ACTION_TIMEOUT, NON_DISRUPTIVE_PER_SITE, STEP_RETRY
from .steps import cause_message

with workflow.unsafe.imports_passed_through():
    from ..activities import MaintenanceActivities
    from ..core.execution_policy import after_result, breaker_tripped
    from ..core.run_text import action_summary, gave_up_detail, give_up_summary, runner_breaker_detail
    from ..models.core import ActionResult, Outcome, PlannedAction
    from ..models.execution import ExecuteActionInput, GiveUpInput


class ActionRunner:
    """Runs actions for one or more sites with the safety rules; shared by both workflows."""

    def __init__(self, make_input: Callable[[PlannedAction], ExecuteActionInput], max_failures: int,
                 on_result: Callable[[ActionResult], None], failures: int = 0, *, ledger_give_ups: bool = False) -> None:
        self._make_input = make_input
        self._ledger_give_ups = ledger_give_ups
        """Record an action that gave up after its retries in the ledger (runs since the ledger breaker),
        so the fleet-wide breaker and the report count it too."""
        self.max_failures = max_failures
        self.failures = failures
        self.halted = breaker_tripped(failures, max_failures)
        """No new action starts. Set by this runner's own count, or when the ledger's fleet-wide count
        (checked by execute_action, across every site child of the run) says the breaker tripped."""
        self._on_result = on_result

    async def run_sites(self, actions: list[PlannedAction]) -> None:
        by_site: dict[str, list[PlannedAction]] = {}
        for a in actions:
            by_site.setdefault(a.site, []).append(a)
        await asyncio.gather(*(self.run_site(by_site[site]) for site in sorted(by_site)))

    async def run_site(self, actions: list[PlannedAction]) -> None:
        """One disruptive action at a time (in plan order) beside a few non-disruptive ones."""
        disruptive = [a for a in actions if a.disruptive]
        other = [a for a in actions if not a.disruptive]
        slots = asyncio.Semaphore(NON_DISRUPTIVE_PER_SITE)

        async def one_at_a_time() -> None:
            for a in disruptive:
                await self.run_action(a)

        async def bounded(a: PlannedAction) -> None:
            async with slots:
                await self.run_action(a)

        await asyncio.gather(one_at_a_time(), *(bounded(a) for a in other))

    async def run_action(self, action: PlannedAction) -> None:
        if self.halted:
            self._on_result(not_run(action, runner_breaker_detail(self.failures)))
            return
        try:
            result = await workflow.execute_activity_method(
                MaintenanceActivities.execute_action, self._make_input(action),
                start_to_close_timeout=ACTION_TIMEOUT, heartbeat_timeout=ACTION_HEARTBEAT, retry_policy=ACTION_RETRY,
                summary=action_summary(action),
            )
        except ActivityError as err:
            result = ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                                  action=action.action, outcome=Outcome.FAILED,
                                  detail=gave_up_detail(cause_message(err)))
            if self._ledger_give_ups:
                result = await self._record_give_up(action, result)
        step = after_result(self.failures, self.max_failures, outcome=result.outcome,
                            circuit_breaker=result.circuit_breaker)
        self.failures = step.failures
        self.halted = self.halted or step.halts
        self._on_result(result)

    async def _record_give_up(self, action: PlannedAction, failed: ActionResult) -> ActionResult:
        """The ledger's outcome for an action whose every attempt failed: `failed`, now recorded there,
        or what an attempt did commit after all. If the store cannot be reached either, `failed`."""
        inp = self._make_input(action)
        if inp.dry_run:
            return failed
        try:
            return await workflow.execute_activity_method(
                MaintenanceActivities.record_give_up, GiveUpInput(action=inp, detail=failed.detail),
                start_to_close_timeout=timedelta(seconds=60), retry_policy=STEP_RETRY,
                summary=give_up_summary(action))
        except ActivityError:
            return failed


def not_run(action: PlannedAction, detail: str) -> ActionResult:
    return ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                        action=action.action, outcome=Outcome.NOT_RUN, detail=detail, circuit_breaker=True)
