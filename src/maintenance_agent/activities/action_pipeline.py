"""One action's pipeline, the same for a real run and a dry run: precheck → apply → verify → outcome.

Where the outcome goes is what the caller passes in: `LedgerOutcomes` commits it to the store's
journal (with the device's new state when it succeeded), `DryRunOutcomes` appends it to the run's
simulated record and changes nothing. The steps themselves are written once, here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from temporalio import activity

from .. import artifacts
from ..core import actions
from ..core.detect import device_after
from ..core.execution_policy import breaker_tripped
from ..core.run_text import ledger_breaker_detail
from ..models.core import ActionResult, DeviceAfter, Outcome, PlannedAction
from ..models.execution import ExecuteActionInput
from ..models.fleet import Alert, DeviceState
from ..store import ChangeRecord, Transaction

EXECUTOR = "simulated"
"""This worker's executor: the JSON fleet simulator changes the data files, never a real device."""


class Outcomes(Protocol):
    """Where an action's outcome goes (the ledger, or a dry run's record) and what it has seen so far."""

    def already(self) -> ActionResult | None:
        """The outcome this action already has (a retry after it was recorded), if any."""

    def problems(self) -> int:
        """Failed or rolled-back actions of the run so far: what the circuit breaker counts."""

    def stale(self, reason: str) -> ActionResult: ...

    def failed(self, detail: str) -> ActionResult: ...

    def rolled_back(self, problem: str, changes: dict[str, Any], seen: str,
                    after: DeviceAfter | None) -> ActionResult: ...

    def succeeded(self, before: DeviceState, new: DeviceState, changes: dict[str, Any], seen: str,
                  after: DeviceAfter | None) -> ActionResult: ...


def precheck(tx: Transaction, inp: ExecuteActionInput, outcomes: Outcomes, now: datetime) -> ActionResult | None:
    """Whatever stops the action before it touches the device, recorded; else None. Already done,
    the circuit breaker, the same repair just failed on this device in another run, or the device
    no longer as planned (its guard)."""
    if (done := outcomes.already()) is not None:
        return done
    if (tripped := breaker(inp, outcomes.problems())) is not None:
        return tripped
    stale = stale_reason(tx, inp, now)
    return None if stale is None else outcomes.stale(stale)


def apply_and_verify(tx: Transaction, inp: ExecuteActionInput, outcomes: Outcomes,
                     live_alerts: Sequence[Alert] = ()) -> ActionResult:
    """Apply to a staged copy, verify, and record the outcome: the unverified state is never written.
    `live_alerts`: the device's firing Alertmanager alerts, still firing in its after-state."""
    action = inp.action
    state = tx.device(action.equipment_id)
    assert state is not None  # the precheck refuses a device that is gone
    try:
        new = actions.apply(action, state, inp.as_of, inp.rules)
    except actions.ApplyError as exc:
        return outcomes.failed(str(exc))
    changes = actions.changed_fields(state, new)
    problem = actions.verify(action, state, new, inp.as_of, inp.rules)
    seen = actions.observed(action, state, new, inp.rules)
    life = tx.fleet.life_years()
    if problem is not None:  # rolled back: the device as it was
        return outcomes.rolled_back(problem, changes, seen, after_state(life, state, inp, live_alerts))
    return outcomes.succeeded(state, new, changes, seen, after_state(life, new, inp, live_alerts))


class LedgerOutcomes:
    """Outcomes committed to the journal in `tx` as this action's ledger line (`record`, completed)."""

    def __init__(self, tx: Transaction, inp: ExecuteActionInput, record: ChangeRecord, *, attempts: int = 1,
                 executor: str = EXECUTOR) -> None:
        self._tx, self._inp, self.record, self._attempts, self._executor = tx, inp, record, attempts, executor

    def already(self) -> ActionResult | None:
        prior = self._tx.ledger_entry(self._inp.run_id, self._inp.action.id)
        return None if prior is None else result_from_ledger(self._inp.action, prior, attempts=self._attempts)

    def problems(self) -> int:
        return self._tx.run_problems(self._inp.run_id)

    def stale(self, reason: str) -> ActionResult:
        return self._ended(Outcome.STALE, reason)

    def failed(self, detail: str) -> ActionResult:
        return self._ended(Outcome.FAILED, detail)

    def rolled_back(self, problem: str, changes: dict[str, Any], seen: str, after: DeviceAfter | None) -> ActionResult:
        detail = f"verification failed: {problem}; rolled back to the prior state"
        committed = self._tx.commit(self.record.model_copy(update={
            "outcome": Outcome.ROLLED_BACK.value, "detail": detail,
            "result": {**self.record.result, "attempted": changes, **observation(seen, after, self._executor)}}))
        return action_result(self._inp.action, Outcome.ROLLED_BACK, detail, committed.seq, observed=seen, after=after,
                             executor=self._executor)

    def succeeded(self, before: DeviceState, new: DeviceState, changes: dict[str, Any], seen: str,
                  after: DeviceAfter | None) -> ActionResult:
        committed = self._tx.commit(self.record.model_copy(update={
            "outcome": Outcome.SUCCEEDED.value, "detail": f"verified: {seen}", "before": before, "after": new,
            "result": {**self.record.result, "changes": changes, **observation(seen, after, self._executor)}}))
        return action_result(self._inp.action, Outcome.SUCCEEDED, committed.detail, committed.seq, changes,
                             observed=seen, after=after, executor=self._executor)

    def _ended(self, outcome: Outcome, detail: str) -> ActionResult:
        extra = {} if self._executor == EXECUTOR else {"result": {**self.record.result, "executor": self._executor}}
        committed = self._tx.commit(self.record.model_copy(update={"outcome": outcome.value, "detail": detail, **extra}))
        return action_result(self._inp.action, outcome, detail, committed.seq, executor=self._executor)


class DryRunOutcomes:
    """Outcomes a dry run would have had, appended to its record in `report_dir` (it has no ledger)."""

    def __init__(self, inp: ExecuteActionInput, report_dir: Path, problems: int, executor: str = EXECUTOR) -> None:
        self._inp, self._report_dir, self._problems, self._executor = inp, report_dir, problems, executor

    def already(self) -> ActionResult | None:
        return None  # a retried simulation simply records itself again (the last record counts)

    def problems(self) -> int:
        return self._problems

    def stale(self, reason: str) -> ActionResult:
        return self._recorded(Outcome.STALE, reason)

    def failed(self, detail: str) -> ActionResult:
        return self._recorded(Outcome.FAILED, detail)

    def rolled_back(self, problem: str, changes: dict[str, Any], seen: str, after: DeviceAfter | None) -> ActionResult:
        return self._recorded(Outcome.ROLLED_BACK, f"verification would fail: {problem}", observed=seen, after=after)

    def succeeded(self, before: DeviceState, new: DeviceState, changes: dict[str, Any], seen: str,
                  after: DeviceAfter | None) -> ActionResult:
        return self._recorded(Outcome.SUCCEEDED, f"would verify: {seen}", changes=changes, observed=seen, after=after)

    def _recorded(self, outcome: Outcome, detail: str, **fields: Any) -> ActionResult:
        result = action_result(self._inp.action, outcome, detail, simulated=True, executor=self._executor, **fields)
        artifacts.append_simulated(self._report_dir, result)
        return result


def change_record(inp: ExecuteActionInput) -> ChangeRecord:
    """The ledger line for this action of this run, its outcome still to be filled in."""
    action = inp.action
    return ChangeRecord(at=datetime.now(UTC), actor=inp.actor, run_id=inp.run_id, workflow_id=inp.workflow_id or None,
                        action_id=action.id, action=action.action.value, equipment_id=action.equipment_id,
                        site=action.site, outcome="", result={"approved_by": inp.approved_by})


def stale_reason(tx: Transaction, inp: ExecuteActionInput, now: datetime) -> str | None:
    """Why the action must not run any more: the same repair failed or was rolled back on this device
    by another run within `repeat_hold_minutes`, or the device is no longer as planned (its guard)."""
    action, rules = inp.action, inp.rules
    hold = rules.repeat_hold
    recent = tx.recent_problem(action.equipment_id, action.action.value, other_than=inp.run_id, since=now - hold)
    if recent is not None:
        return (f"{action.action.value} on {action.equipment_id} was {recent.outcome.replace('_', ' ')} by another "
                f"run ({recent.workflow_id or recent.run_id}) at {recent.at:%Y-%m-%d %H:%M:%S} UTC and is not repeated "
                f"within {hold.total_seconds() / 60:g} min ({recent.detail})")
    return actions.precheck(action, tx.device(action.equipment_id))


def breaker(inp: ExecuteActionInput, problems: int) -> ActionResult | None:
    """NOT_RUN if the run's circuit breaker has tripped: `problems` failed or rolled-back actions, counted
    across every site child of the run, at or over its `max_failures`."""
    if inp.max_failures is None or not breaker_tripped(problems, inp.max_failures):
        return None
    action = inp.action
    return ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                        action=action.action, outcome=Outcome.NOT_RUN, circuit_breaker=True,
                        detail=ledger_breaker_detail(problems, inp.max_failures))


def action_result(action: PlannedAction, outcome: Outcome, detail: str, seq: int | None = None,
                  changes: dict | None = None, simulated: bool = False, observed: str = "",
                  after: DeviceAfter | None = None, executor: str = EXECUTOR) -> ActionResult:
    return ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                        action=action.action, outcome=outcome, detail=detail, simulated=simulated,
                        changes=changes or {}, audit_seq=seq, finished_at=datetime.now(UTC),
                        attempts=activity.info().attempt if activity.in_activity() else 1,
                        observed=observed, after=after, executor=executor)


def result_from_ledger(action: PlannedAction | None, change: ChangeRecord, attempts: int = 1) -> ActionResult:
    """An action's result as its ledger line recorded it (a retry, or the report reading the ledger)."""
    return ActionResult(
        action_id=change.action_id or "", equipment_id=change.equipment_id or "",
        site=action.site if action else (change.site or ""),
        action=change.action or (action.action if action else ""), outcome=Outcome(change.outcome),
        detail=change.detail, changes=change.result.get("changes", {}), audit_seq=change.seq,
        finished_at=change.at, attempts=attempts, observed=str(change.result.get("observed", "")),
        after=DeviceAfter.model_validate(change.result["device_after"]) if change.result.get("device_after") else None,
        executor=str(change.result.get("executor", EXECUTOR)),
    )


def after_state(life_years: Mapping[tuple[str, str], float], state: DeviceState,
                inp: ExecuteActionInput, live_alerts: Sequence[Alert] = ()) -> DeviceAfter:
    """The device judged by the run's rules just after the operation (its new reading included)."""
    return device_after(state, life_years, inp.rules, inp.as_of + actions.READING_OFFSET, live_alerts)


def observation(seen: str, after: DeviceAfter | None, executor: str = EXECUTOR) -> dict[str, Any]:
    """What the ledger keeps of verification: the evidence and the device's after-state (None: not
    observed, as with a real executor until verification reads the metrics source)."""
    return {"observed": seen, "device_after": after.model_dump(mode="json") if after else None, "executor": executor}
