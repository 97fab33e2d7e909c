"""Execution activities: one action exactly once per run (`execute_action`), its give-up, the run's
progress and the compaction at the end. They depend on the store's transactions, ledger and leases.

The ledger entry for (run id, action id) and the data change are one fsync'd journal line, so a
retry after a crash finds the entry and returns the recorded outcome instead of applying again."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import artifacts
from ..models.activity_io import CompactInput
from ..models.core import ActionResult
from ..models.execution import ExecuteActionInput, GiveUpInput, RunProgressInput
from ..models.fleet import Alert
from ..models.run import OutcomeCounts
from ..store import ChangeRecord
from .action_pipeline import DryRunOutcomes, LedgerOutcomes, apply_and_verify, change_record, precheck
from .base import ActivityBase
from .errors import store_errors

LEASE_TTL_SECONDS = 30.0
LEASE_RENEW_SECONDS = 5.0
"""A lease lapses 30 s after it was last taken or renewed; an operation renews its own every 5 s."""
LEASE_WAIT_SECONDS = 60.0
LEASE_POLL_SECONDS = 0.1


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
        action, store = inp.action, self.store()
        seconds = self._operation_seconds if action.disruptive else 0.0
        if not seconds:
            with store.transaction() as tx:
                record = change_record(inp)
                ledger = LedgerOutcomes(tx, inp, record, attempts=activity.info().attempt)
                return precheck(tx, inp, ledger, record.at) or apply_and_verify(tx, inp, ledger, self._alerts(inp))
        holder = f"{inp.run_id}/{action.id}"
        leases = [f"site:{action.site}", f"device:{action.equipment_id}"]
        early, record = self._lease(inp, holder, leases)
        if early is not None:
            return early
        try:
            started = datetime.now(UTC)
            self._operate(seconds, holder, leases)
            with store.transaction() as tx:  # the leases kept every other disruptive operation away
                record = record.model_copy(update={
                    "at": datetime.now(UTC), "result": {**record.result, "operation_started_at": started.isoformat()}})
                return apply_and_verify(tx, inp, LedgerOutcomes(tx, inp, record), self._alerts(inp))
        finally:
            with store.transaction() as tx:
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
            time.sleep(LEASE_POLL_SECONDS)

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

    def _dry_run(self, inp: ExecuteActionInput) -> ActionResult:
        """The same pipeline on the current state, read-only: the outcome goes to the run's simulated record."""
        report_dir = self.run_dir(inp.report_dir)
        simulated = DryRunOutcomes(inp, report_dir, self._simulated_problems(report_dir))
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
