"""Execution activities: one action exactly once per run (`execute_action`), its give-up, the run's
progress and the compaction at the end. They depend on the store's transactions, ledger and leases.

The ledger entry for (run id, action id) and the data change are one fsync'd journal line, so a
retry after a crash finds the entry and returns the recorded outcome instead of applying again."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import artifacts
from ..executors.base import PlaybookOutcome, StepName
from ..models.activity_io import CompactInput
from ..models.core import ActionResult
from ..models.execution import ExecuteActionInput, GiveUpInput, RunProgressInput
from ..models.fleet import Alert, DeviceState
from ..models.run import OutcomeCounts
from ..store import ChangeRecord
from .action_pipeline import EXECUTOR, DryRunOutcomes, LedgerOutcomes, apply_and_verify, change_record, precheck
from .base import ActivityBase
from .errors import store_errors

LEASE_TTL_SECONDS = 30.0
LEASE_RENEW_SECONDS = 5.0
"""A lease lapses 30 s after it was last taken or renewed; an operation renews its own every 5 s."""
LEASE_WAIT_SECONDS = 60.0
LEASE_POLL_SECONDS = 0.1
LEASE_POLL_MAX_SECONDS = 2.0
"""A waiting action asks again after 0.1 s, then less and less often: every ask takes the store's
lock, and many actions waiting for one site must not keep it from the one that holds the site."""


class ExecutionActivities(ActivityBase):
    @activity.defn
    def execute_action(self, inp: ExecuteActionInput) -> ActionResult:
        """Precheck, apply, verify (rolling back on failure) one action, exactly once per run.

        The ledger entry for (run id, action id) and the data change are one fsync'd journal line,
        so a retry after a crash finds the entry and returns the recorded outcome instead of
        applying again."""
        with store_errors():
            return self._dry_run(inp) if inp.dry_run else self._execute_once(inp)

    def _execute_once(self, inp: ExecuteActionInput) -> ActionResult:
        """The simulator's operations are instant, so each action is checked, applied, verified and
        committed in one section under the store lock (which is then also its lease). An operation
        that takes time (a disruptive one, with `operation_seconds`) holds a site and a device lease
        instead while it runs outside the lock, so other runs start no disruptive work there meanwhile."""
        if self._executor is not None:
            return self._run_playbooks(inp)
        action, store = inp.action, self.store()
        seconds = self._operation_seconds if action.disruptive else 0.0
        if not seconds:
            with store.transaction() as tx:
                record = change_record(inp)
                ledger = LedgerOutcomes(tx, inp, record, attempts=activity.info().attempt)
                return precheck(tx, inp, ledger, record.at) or apply_and_verify(tx, inp, ledger, self._alerts(inp))
        with self._leased(inp) as (early, record, holder, leases):
            if early is not None:
                return early
            started = datetime.now(UTC)
            self._operate(seconds, holder, leases)
            with store.transaction() as tx:  # the leases kept every other disruptive operation away
                record = record.model_copy(update={
                    "at": datetime.now(UTC), "result": {**record.result, "operation_started_at": started.isoformat()}})
                return apply_and_verify(tx, inp, LedgerOutcomes(tx, inp, record), self._alerts(inp))

    @contextlib.contextmanager
    def _leased(self, inp: ExecuteActionInput) -> Iterator[tuple[ActionResult | None, ChangeRecord, str, list[str]]]:
        """The action's device lease for the block, and its site's when it is disruptive (one
        disruptive operation per site at a time; other work on other devices of the site goes on),
        unless it stopped first (then its early result, and nothing to release): (early result, its
        record, the holder, the leases)."""
        action = inp.action
        holder = f"{inp.run_id}/{action.id}"
        leases = [*([f"site:{action.site}"] if action.disruptive else []), f"device:{action.equipment_id}"]
        early, record = self._lease(inp, holder, leases)
        if early is not None:
            yield early, record, holder, leases
            return
        try:
            yield None, record, holder, leases
        finally:
            with self.store().transaction() as tx:
                tx.release_leases(holder, now=time.time())

    def _alerts(self, inp: ExecuteActionInput) -> list[Alert]:
        """The device's firing Alertmanager alerts that the run's detection judged (none for most runs)."""
        path = self.run_dir(inp.artifact_dir) / artifacts.ALERTS
        if not path.exists():
            return []
        try:
            held = artifacts.read(path.parent, artifacts.ALERTS, artifacts.LiveAlerts)
        except artifacts.ArtifactError:
            return []  # torn or unreadable: the after-state is judged without them, as before alerts existed
        return held.by_device.get(inp.action.equipment_id, [])

    def _lease(self, inp: ExecuteActionInput, holder: str,
               leases: list[str]) -> tuple[ActionResult | None, ChangeRecord]:
        """Take the site and device leases (waiting, heartbeating, while another run holds one), unless
        the action is stopped first: (early result, its record) or (None, its record). The precheck runs
        again after each wait, so an operation another run just finished on the device makes this one stale."""
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        poll = LEASE_POLL_SECONDS
        while True:
            with self.store().transaction() as tx:
                record = change_record(inp)
                early = precheck(tx, inp, LedgerOutcomes(tx, inp, record, attempts=activity.info().attempt), record.at)
                if early is not None:
                    return early, record
                busy = tx.take_leases(leases, holder, ttl_seconds=LEASE_TTL_SECONDS, now=time.time())
            if busy is None:
                return None, record
            if time.monotonic() > deadline:
                raise ApplicationError(f"{busy} for more than {LEASE_WAIT_SECONDS:.0f} s; will retry", type="LeaseBusy")
            activity.heartbeat(f"waiting: {busy}")
            time.sleep(poll)
            poll = min(poll * 1.5, LEASE_POLL_MAX_SECONDS)

    def _operate(self, seconds: float, holder: str, leases: list[str]) -> None:
        """The operation on the device (the simulator's take `operation_seconds`), heartbeating, and
        renewing its leases while it lasts (a dead worker's leases then lapse soon)."""
        deadline = time.monotonic() + seconds
        renew_at = time.monotonic() + LEASE_RENEW_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            activity.heartbeat("operating")
            if time.monotonic() >= renew_at:
                with self.store().transaction() as tx:
                    tx.take_leases(leases, holder, ttl_seconds=LEASE_TTL_SECONDS, now=time.time())
                renew_at = time.monotonic() + LEASE_RENEW_SECONDS
            time.sleep(min(left, 0.5))

    # -- a real executor: the playbooks ------------------------------------------------------------
    def _run_playbooks(self, inp: ExecuteActionInput) -> ActionResult:
        """Apply, verify and, when verification fails, roll back with the executor, outside the store
        lock and holding the device's lease (and the site's, for a disruptive action); the ledger line is committed once, at the end. A
        retry finds each step that had finished (its outcome is kept in the run's folder) and does not
        run it again; a step killed mid-run runs again (the playbooks are idempotent)."""
        action = inp.action
        with self._leased(inp) as (early, record, _holder, _leases):
            if early is not None:
                return early
            with self.store().transaction() as tx:
                state = tx.device(action.equipment_id)
            assert state is not None  # the precheck refuses a device that is gone
            step = self._playbook_step(inp, state)
            steps: dict[str, PlaybookOutcome] = {}
            verdict = _judge(action.action.value, step, steps)
            playbooks = {name: outcome.as_record() for name, outcome in steps.items()}
            with self.store().transaction() as tx:
                ledger = LedgerOutcomes(tx, inp, record.model_copy(update={
                    "at": datetime.now(UTC), "result": {**record.result, "playbooks": playbooks}}),
                    attempts=activity.info().attempt, executor=self._executor_name)
                if (done := ledger.already()) is not None:
                    return done
                kind, text = verdict
                if kind == "failed":
                    return ledger.failed(text)
                if kind == "rolled_back":
                    return ledger.rolled_back(text, {}, text, None)
                return ledger.succeeded(state, state, {}, text, None)

    @property
    def _executor_name(self) -> str:
        return self._executor.name if self._executor is not None else EXECUTOR

    def _playbook_step(self, inp: ExecuteActionInput, state: DeviceState) -> Callable[[StepName], PlaybookOutcome]:
        """Runs one step of the action with the executor, heartbeating as the playbook goes."""
        assert self._executor is not None
        executor, action = self._executor, inp.action
        spec = {"run_id": inp.run_id, "action_id": action.id, "idempotency_key": f"{inp.run_id}/{action.id}",
                "action": action.action.value, "equipment_id": action.equipment_id, "site": action.site,
                "params": dict(action.params)}
        device = state.inventory.model_dump(mode="json", exclude={"alerts"})
        workdir = self.run_dir(inp.report_dir) / "ansible" / action.id

        def alive() -> bool:  # polled while a playbook runs: heartbeat, and stop if the activity was cancelled
            activity.heartbeat("playbook running")
            return activity.is_cancelled()

        def run(step: StepName) -> PlaybookOutcome:
            return executor.run(step, spec, device, workdir, reports_root=self._reports_root,
                                heartbeat=activity.heartbeat, cancelled=alive)
        return run

    def _dry_run(self, inp: ExecuteActionInput) -> ActionResult:
        """The same pipeline on the current state, read-only: the outcome goes to the run's simulated record."""
        report_dir = self.run_dir(inp.report_dir)
        simulated = DryRunOutcomes(inp, report_dir, self._simulated_problems(report_dir), self._executor_name)
        if self._executor is not None:  # check mode: the playbook's preview, nothing changed anywhere
            with self.store().transaction() as tx:
                early = precheck(tx, inp, simulated, datetime.now(UTC))
                state = tx.device(inp.action.equipment_id)
            if early is not None:
                return early
            assert state is not None
            preview = self._playbook_step(inp, state)("preview")
            if not preview.succeeded:
                return simulated.failed(f"check mode: {inp.action.action.value}.yml {preview.summary()}")
            diff = f"; would change:\n{preview.diff}" if preview.diff else "; no change"
            return simulated.succeeded(state, state, {}, f"check mode {preview.summary()}{diff}", None)
        with self.store().transaction() as tx:  # read-only: nothing is committed
            return (precheck(tx, inp, simulated, datetime.now(UTC))
                    or apply_and_verify(tx, inp, simulated, self._alerts(inp)))

    def _simulated_problems(self, report_dir: Path) -> int:
        """A dry run's circuit breaker: its simulated failures so far (it has no ledger), read on from
        where this worker last read, so a large dry run does not re-read its record per action."""
        with self._tallies_lock:
            tally = self._tallies.setdefault(report_dir, artifacts.SimulationTally())
            return tally.problems(report_dir)

    @activity.defn
    def record_give_up(self, inp: GiveUpInput) -> ActionResult:
        """An action's attempts all failed: record it as failed in the ledger (what the breaker and the
        report read), unless an attempt did commit an outcome, which is then returned instead."""
        with store_errors(), self.store().transaction() as tx:
            ledger = LedgerOutcomes(tx, inp.action, change_record(inp.action))
            return ledger.already() or ledger.failed(inp.detail)

    @activity.defn
    def run_progress(self, inp: RunProgressInput) -> OutcomeCounts:
        """What this run's actions have come to so far, from the ledger (or a dry run's simulation)."""
        if inp.dry_run:
            recorded = artifacts.read_simulated(self.run_dir(inp.report_dir))
            outcomes = dict(Counter(r.outcome.value for r in recorded.values()))
        else:
            with store_errors():
                outcomes = self.store().run_outcomes(inp.run_id)
        return OutcomeCounts(**{k: v for k, v in outcomes.items() if k in OutcomeCounts.model_fields})

    @activity.defn
    def compact_store(self, inp: CompactInput) -> int:
        """Write every committed change into the JSON files (large fleets defer this to run end)."""
        with store_errors():
            return self.store().compact()


def _judge(action: str, step: Callable[[StepName], PlaybookOutcome],
           kept: dict[str, PlaybookOutcome]) -> tuple[str, str]:
    """Apply, then verify, then (verification failed) roll back: the outcome and its sentence.
    `kept` gets each step's record for the ledger."""
    def ran(name: StepName) -> PlaybookOutcome:
        outcome = kept[name] = step(name)
        return outcome

    apply = ran("apply")
    if not apply.succeeded:
        missing = apply.status == "missing"
        return "failed", f"no playbook {action}.yml in ANSIBLE_PLAYBOOK_DIR" if missing else \
            f"playbook {action}.yml {apply.summary()}"
    verify = ran("verify")
    if verify.succeeded or verify.status == "missing":
        checked = "passed" if verify.succeeded else "missing, so not verified beyond the apply"
        return "succeeded", f"{action}.yml {apply.summary()}; {action}_verify.yml {checked}"
    problem = f"{action}_verify.yml {verify.summary()}"
    rollback = ran("rollback")
    if rollback.succeeded:
        return "rolled_back", f"{problem}; {action}_rollback.yml {rollback.summary()}"
    why = (f"no {action}_rollback.yml: the device is as the apply left it" if rollback.status == "missing"
           else f"rollback failed too: {rollback.summary()}")
    return "failed", f"verification failed: {problem}; {why}"
