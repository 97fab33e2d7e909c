"""Activities: every piece of I/O the workflows need. Each is small, idempotent and typed.

The worker owns its data and reports directories: activities work on the `DATA_DIR` and
`REPORTS_DIR` of the worker's own settings, never on paths a workflow input names; the run
folders an input refers to are resolved under REPORTS_DIR and refused if they lead outside it.

They are synchronous (file I/O and CPU-bound rules) and run in the worker's thread pool. Errors the
user must fix (a malformed data file, a plan that no longer exists) are raised as non-retryable
`ApplicationError`s with a one-line message; anything else is retried by Temporal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import BaseModel
from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from . import artifacts
from .config import LlmSettings, NotifySettings
from .core import actions
from .core import notify as messages
from .core.analyze import analyze
from .core.detect import as_of_warnings, detect, device_after, time_frame
from .core.listing import missing_attributes, settable_attributes
from .core.plan import plan_actions
from .core.report import actions_csv, build_report, findings_csv, render_markdown
from .core.report_html import render_html
from .models.core import ActionResult, DeviceAfter, Outcome, PlannedAction
from .models.fleet import DeviceState
from .models.workflow import (
    INLINE_LIMIT,
    READABLE_ARTIFACTS,
    AdviseInput,
    AdviseResult,
    AnalyzeInput,
    AnalyzeResult,
    ApprovalPolicy,
    ArtifactPage,
    ClaimRunInput,
    CompactInput,
    DetectInput,
    DetectResult,
    ExecuteActionInput,
    GiveUpInput,
    GrantCheckInput,
    LastCycleInput,
    LoadActionsInput,
    LoadPlanInput,
    NotifyInput,
    NotifyResult,
    OpenApproval,
    OpenChildrenInput,
    OutcomeCounts,
    PageInput,
    ParentCheckInput,
    PlanInput,
    PlanResult,
    ProactiveStatus,
    ReadArtifactInput,
    ReportInput,
    ReportRef,
    RunProgressInput,
    StillOpenInput,
    UseProofInput,
)
from .perf import gc_paused
from .store import ChangeRecord, FleetDataError, FleetStore, StoreBusy, Transaction, atomic_write_bytes

log = logging.getLogger(__name__)
ATTRIBUTES_RECHECK_SECONDS = 60.0
"""How long a worker trusts its last look at the namespace's search attributes (one look per run otherwise)."""


def _non_retryable(exc: Exception, kind: str) -> ApplicationError:
    return ApplicationError(str(exc), type=kind, non_retryable=True)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """Bad fleet data fails the activity for good; a busy store is retried."""
    try:
        yield
    except FleetDataError as exc:
        raise _non_retryable(exc, "FleetDataError") from None
    except StoreBusy as exc:
        raise ApplicationError(str(exc), type="StoreBusy") from None


@dataclass(frozen=True)
class TestHooks:
    """Fault injection for the crash and chaos tests. Only the test-only environment variables
    MAINTENANCE_AGENT_TEST_FAULT_RATE and MAINTENANCE_AGENT_TEST_ACTION_DELAY_MS turn it on."""

    fault_rate: float = 0.0
    action_delay_ms: int = 0
    operation_ms: int = 0
    """How long each disruptive operation takes (outside the store lock, holding its leases)."""
    seed: int | None = None
    fault_log: str | None = None
    """A file that gets one line per injected fault (so the chaos suite can count them exactly)."""

    @classmethod
    def from_environment(cls) -> TestHooks:
        rate = float(os.environ.get("MAINTENANCE_AGENT_TEST_FAULT_RATE") or 0)
        delay = int(os.environ.get("MAINTENANCE_AGENT_TEST_ACTION_DELAY_MS") or 0)
        operation = int(os.environ.get("MAINTENANCE_AGENT_TEST_OPERATION_MS") or 0)
        if not 0 <= rate <= 1 or delay < 0 or operation < 0:
            raise ValueError("MAINTENANCE_AGENT_TEST_FAULT_RATE must be 0..1 and ..._ACTION_DELAY_MS, "
                             "..._OPERATION_MS >= 0")
        return cls(rate, delay, operation, fault_log=os.environ.get("MAINTENANCE_AGENT_TEST_FAULT_LOG") or None)

    @property
    def active(self) -> bool:
        return bool(self.fault_rate or self.action_delay_ms or self.operation_ms)


class InjectedFault(Exception):
    """A failure injected on purpose by the test hooks (retried by Temporal like any other)."""


class MaintenanceActivities:
    """Activities bound to one worker process, its fleet store and its reports directory."""

    def __init__(self, hooks: TestHooks | None = None, *, data_dir: Path, reports_dir: Path,
                 client: Client | None = None, notify_url: str | None = None, llm: LlmSettings | None = None,
                 policy: ApprovalPolicy | None = None, keys_dir: Path | None = None,
                 notifications: NotifySettings | None = None) -> None:
        self._client = client
        self._policy = policy or ApprovalPolicy()
        self._keys_dir = keys_dir
        self._notifications = notifications or NotifySettings(webhook_url=notify_url)
        self._llm = llm
        self._store = FleetStore(Path(data_dir).resolve(), while_waiting=_heartbeat_while_waiting)
        self._reports_root = Path(reports_dir).resolve()
        self._hooks = hooks or TestHooks()
        self._random = random.Random(self._hooks.seed)
        self._random_lock = threading.Lock()
        self._plans: dict[tuple[str, int, int], BaseModel] = {}
        self._tallies: dict[Path, artifacts.SimulationTally] = {}
        self._tallies_lock = threading.Lock()
        self._plans_lock = threading.Lock()
        self._attributes_checked: tuple[float, bool] | None = None
        if self._hooks.active:
            log.warning("TEST HOOKS ACTIVE: fault rate %.2f, action delay %d ms", self._hooks.fault_rate,
                        self._hooks.action_delay_ms)

    def _fault_point(self) -> str | None:
        """With probability `fault_rate` per attempt, fail it: before or after the commit, evenly."""
        if not self._hooks.fault_rate:
            return None
        with self._random_lock:
            if self._random.random() >= self._hooks.fault_rate:
                return None
            where = "before" if self._random.random() < 0.5 else "after"
            if self._hooks.fault_log:
                with open(self._hooks.fault_log, "a") as fh:
                    fh.write(f"{where}\n")
            return where

    def store(self) -> FleetStore:
        return self._store

    def run_dir(self, ref: str) -> Path:
        """A run's folder, named relative to REPORTS_DIR (or absolute inside it, as older runs did)."""
        path = Path(ref)
        resolved = (path if path.is_absolute() else self._reports_root / path).resolve()
        if not ref or not resolved.is_relative_to(self._reports_root) or resolved == self._reports_root:
            raise ApplicationError(f"refusing the run folder {ref[:120]!r}: it is not inside this worker's "
                                   f"REPORTS_DIR ({self._reports_root})", type="UnsafePath", non_retryable=True)
        return resolved

    @activity.defn
    def approval_policy(self) -> ApprovalPolicy:
        """The approval policy of this worker's settings (`APPROVERS`, `REQUIRE_DISTINCT_APPROVER`):
        what a run enforces, whatever the client that started it asked for; with the public keys of
        `APPROVER_KEYS_DIR`, read afresh so a key added there counts for the next run."""
        from .identity import KeyFileError

        try:
            return worker_approval_policy(self._policy, self._keys_dir)
        except KeyFileError as exc:
            raise _non_retryable(exc, "KeyFileError") from None

    @activity.defn
    async def verify_parent_agent(self, inp: ParentCheckInput) -> bool:
        """Whether this parent is a proactive agent that acts for `started_by` because they signed its
        start (a run an agent started carries no signature of its own)."""
        # The agent may have stopped since it started this run: a closed agent still answers its query.
        handle = await self._ours(inp.workflow_id, inp.run_id, "ProactiveMaintenanceWorkflow", running=False)
        if handle is None:
            return False
        status = await handle.query("status", result_type=ProactiveStatus)
        return status.starter_verified and status.started_by == inp.started_by

    @activity.defn
    async def check_site_grant(self, inp: GrantCheckInput) -> str | None:
        """Why the parent does not authorize this site batch, or None: the parent must be a maintenance
        run on this task queue (so its answer comes from our code) that is executing exactly this."""
        handle = await self._ours(inp.parent_workflow_id, inp.parent_run_id, "InfrastructureMaintenanceWorkflow")
        if handle is None:
            return f"{inp.parent_workflow_id} is not a running maintenance run of this task queue"
        answer = await handle.query("grant", inp.request)
        return None if answer is None else str(answer)

    async def _ours(self, workflow_id: str, run_id: str, workflow_type: str, *, running: bool = True):  # noqa: ANN202
        """A handle on this workflow if it is of `workflow_type`, on this worker's task queue (a workflow
        of the same name on another queue runs someone else's code) and, if asked, running; else None."""
        if self._client is None:
            return None
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        ours = (desc.workflow_type == workflow_type and desc.task_queue == activity.info().task_queue
                and (desc.status == WorkflowExecutionStatus.RUNNING or not running))
        return handle if ours else None

    # -- detect / analyze / plan ---------------------------------------------------------------
    @activity.defn
    def detect_fleet(self, inp: DetectInput) -> DetectResult:
        """Load and validate the fleet, run every rule, store the findings as an artifact."""
        # The folder first: a cycle whose data cannot be read still leaves its number behind (last_cycle).
        self.run_dir(inp.artifact_dir).mkdir(parents=True, exist_ok=True)
        store = self.store()
        with _store_errors():
            fleet = store.snapshot()
        activity.heartbeat("loaded")
        # The clock is read here, in the activity; the rules only ever see the time they are given.
        frame = time_frame(fleet.inventory.values(), fleet.health.values(), datetime.now(UTC), inp.rules.future_tolerance)
        as_of = inp.as_of or frame.as_of
        warnings = as_of_warnings(as_of, frame.as_of, given=inp.as_of is not None)
        previous = store.read_health_states(inp.run_id if inp.record_health else None)
        with gc_paused():
            detection = detect(fleet.inventory, fleet.health, fleet.life_years(), inp.rules, as_of, previous)
        del fleet
        activity.heartbeat("detected")
        artifact = artifacts.DetectionArtifact(
            as_of=as_of, summary=detection.summary, findings=detection.findings, facts=detection.facts,
            device_health=detection.device_health, sites=detection.sites,
            firmware_baseline=detection.firmware_baseline, data_errors=frame.data_errors, warnings=warnings,
        )
        artifacts.write(self.run_dir(inp.artifact_dir), artifacts.DETECTION, artifact)
        if inp.record_health:
            store.write_health_states({d.equipment_id: d.state.value for d in detection.device_health}, inp.run_id)
        return DetectResult(
            as_of=as_of, summary=detection.summary, findings_total=len(detection.findings),
            by_severity=dict(Counter(f.severity.value for f in detection.findings)),
            by_kind=dict(sorted(Counter(f.kind.value for f in detection.findings).items())),
            findings=detection.findings[:INLINE_LIMIT], sites=detection.sites,
            held_back=sum(1 for d in detection.device_health if d.held_back),
            data_errors_total=len(frame.data_errors), data_errors=frame.data_errors[:MAX_INLINE_DATA_ERRORS],
            warnings=warnings,
        )

    @activity.defn
    def analyze_findings(self, inp: AnalyzeInput) -> AnalyzeResult:
        """Group findings into ranked problems with likely causes and per-site blast radius."""
        directory = self.run_dir(inp.artifact_dir)
        detection = self._read(directory, artifacts.DETECTION, artifacts.DetectionArtifact)
        with gc_paused():
            problems, impacts = analyze(detection.findings, detection.facts, detection.sites)
        artifacts.write(directory, artifacts.ANALYSIS, artifacts.AnalysisArtifact(problems=problems, impacts=impacts))
        return AnalyzeResult(problems_total=len(problems), problems=problems[:INLINE_LIMIT], impacts=impacts)

    @activity.defn
    def plan_maintenance(self, inp: PlanInput) -> PlanResult:
        """Map problems to catalog actions; skip repairs already awaiting a decision elsewhere."""
        directory = self.run_dir(inp.artifact_dir)
        detection = self._read(directory, artifacts.DETECTION, artifacts.DetectionArtifact)
        analysis = self._read(directory, artifacts.ANALYSIS, artifacts.AnalysisArtifact)
        open_keys: set[str] = set()
        for other, everything_open in ([(p, False) for p in inp.exclude_plans]
                                       + [(p, True) for p in inp.exclude_plans_entirely]):
            try:
                open_keys.update(a.key for a in artifacts.read(self.run_dir(other), artifacts.PLAN,
                                                               artifacts.PlanArtifact).actions
                                 if everything_open or not a.routine)
            except (artifacts.ArtifactError, ApplicationError):
                log.warning("open plan %s is unreadable; its actions may be proposed again", other)
        with gc_paused():
            everything = plan_actions(analysis.problems, detection.findings, detection.facts,
                                      detection.firmware_baseline, inp.rules, inp.as_of)
        planned = [a for a in everything if a.key not in open_keys]
        for index, action in enumerate(planned, start=1):
            action.id = f"A{index}"
        artifacts.write(directory, artifacts.PLAN, artifacts.PlanArtifact(actions=planned, excluded=len(everything) - len(planned)))
        return plan_result(planned, excluded=len(everything) - len(planned))

    @activity.defn
    def advise(self, inp: AdviseInput) -> AdviseResult:
        """Ask the LLM advisor for explanations, comments and proposals, within the token budget.
        Never fails the run: any problem with the model becomes a note and rule-based output stays.

        Idempotent: every attempt starts from the rules-only plan (an earlier attempt may already
        have written its advice), and `added_ids` names every LLM-sourced action in the plan as it
        stands on disk: the workflow never auto-approves those. Nothing is written once the
        attempt's `llm.ADVISE_BUDGET_SECONDS` are spent."""
        if self._llm is None:
            return AdviseResult(used=False, note="rules only: this worker has no LLM_MODEL configured")
        from . import llm  # litellm is imported only here, only when a model is configured
        from .core.advice import apply_advice, build_digest, without_advice

        deadline = time.monotonic() + llm.ADVISE_BUDGET_SECONDS
        directory = self.run_dir(inp.artifact_dir)
        detection = self._read(directory, artifacts.DETECTION, artifacts.DetectionArtifact)
        analysis = self._read(directory, artifacts.ANALYSIS, artifacts.AnalysisArtifact)
        plan = self._read_uncached(directory, artifacts.PLAN, artifacts.PlanArtifact)  # it is amended below
        problems, rules_actions = without_advice(analysis.problems, plan.actions)
        digest = build_digest(problems, rules_actions, devices=detection.summary.devices,
                              sites=detection.summary.sites, budget_tokens=self._llm.prompt_token_budget)
        activity.heartbeat("asking the advisor")
        talk = llm.ask(self._llm, digest.prompt, deadline=deadline)
        record = artifacts.AdviceArtifact(
            used=talk.answer is not None, model=self._llm.model, prompt_tokens=talk.prompt_tokens,
            completion_tokens=talk.completion_tokens, latency_ms=round(talk.latency_ms, 1), attempts=talk.attempts,
            digest_tokens=digest.tokens, tokenizer=digest.tokenizer, token_budget=self._llm.prompt_token_budget,
            problems_included=digest.problems_included, problems_omitted=digest.problems_omitted,
            actions_included=digest.actions_included, actions_omitted=digest.actions_omitted, notes=list(talk.notes))
        if talk.answer is None or time.monotonic() >= deadline:
            return self._keep_advice_on_disk(directory, plan, record, deadline)
        applied = apply_advice(talk.answer, problems, rules_actions, detection.facts, digest, inp.rules)
        record.executive_summary = talk.answer.executive_summary
        record.parts = [part for part, present in (
            ("executive summary", True),
            ("problem explanations", any(p.llm_explanation for p in applied.problems)),
            ("action comments and priorities", any(a.llm_comment or a.llm_priority for a in applied.actions)),
            ("proposed actions", bool(applied.added))) if present]
        record.proposals_accepted, record.proposals_rejected = applied.added, applied.rejected
        record.notes += applied.notes
        artifacts.write(directory, artifacts.ANALYSIS, analysis.model_copy(update={"problems": applied.problems}))
        artifacts.write(directory, artifacts.PLAN, plan.model_copy(update={"actions": applied.actions}))
        artifacts.write(directory, artifacts.ADVICE, record)
        return AdviseResult(used=True, note=f"advice from {self._llm.model}: {', '.join(record.parts)}",
                            plan=plan_result(applied.actions, plan.excluded),
                            added_ids=[a.id for a in applied.actions if a.source == "llm"])

    def _keep_advice_on_disk(self, directory: Path, plan: artifacts.PlanArtifact, record: artifacts.AdviceArtifact,
                             deadline: float) -> AdviseResult:
        """No usable answer in time: the analysis and plan stay as they are on disk (with the advice
        an earlier attempt wrote, if any), and the result names the LLM-sourced actions they hold."""
        llm_ids = [a.id for a in plan.actions if a.source == "llm"]
        note = "; ".join(record.notes) or "no advice"
        if time.monotonic() >= deadline:
            note = f"the advisor's time budget was spent, nothing written ({note})"
        else:
            earlier = (self._read_uncached(directory, artifacts.ADVICE, artifacts.AdviceArtifact)
                       if (directory / artifacts.ADVICE).exists() else None)
            if earlier is not None and earlier.used:  # an earlier attempt's validated advice stands
                record = earlier.model_copy(update={"notes": [*earlier.notes, *(f"retry: {n}" for n in record.notes)]})
            artifacts.write(directory, artifacts.ADVICE, record)
        if not llm_ids:
            return AdviseResult(used=False, note=note)
        return AdviseResult(used=True, note=f"advice from an earlier attempt stands; this attempt: {note}",
                            plan=plan_result(plan.actions, plan.excluded), added_ids=llm_ids)

    @activity.defn
    def load_plan(self, inp: LoadPlanInput) -> PlanResult:
        """Summarize a plan made earlier (by a proactive cycle), optionally only some of its actions."""
        plan = self._read(self.run_dir(inp.artifact_dir), artifacts.PLAN, artifacts.PlanArtifact)
        if inp.action_ids is None:
            return plan_result(plan.actions, plan.excluded)
        return plan_result(_select(plan, inp.action_ids, inp.artifact_dir))

    @activity.defn
    def load_actions(self, inp: LoadActionsInput) -> list[PlannedAction]:
        """The planned actions with these ids, in plan order (for executing large plans in batches)."""
        plan = self._read(self.run_dir(inp.artifact_dir), artifacts.PLAN, artifacts.PlanArtifact)
        return _select(plan, inp.action_ids, inp.artifact_dir)

    # -- execute -----------------------------------------------------------------------------
    @activity.defn
    def execute_action(self, inp: ExecuteActionInput) -> ActionResult:
        """Precheck, apply, verify (rolling back on failure) one action, exactly once per run.

        The ledger entry for (run id, action id) and the data change are one fsync'd journal line,
        so a retry after a crash finds the entry and returns the recorded outcome instead of
        applying again."""
        store = self.store()
        if inp.dry_run:
            return self._simulate(store, inp)
        fault = self._fault_point()
        if fault == "before":
            raise InjectedFault("injected fault before the change")
        result = self._execute_once(store, inp)
        if self._hooks.action_delay_ms:  # a window for the crash tests' SIGKILL, after the commit
            deadline = time.monotonic() + self._hooks.action_delay_ms / 1000
            while (left := deadline - time.monotonic()) > 0:
                activity.heartbeat("committed")
                time.sleep(min(left, 0.5))
        if fault == "after":  # the change is committed: the retry must find it in the ledger
            raise InjectedFault("injected fault after the change was committed")
        return result

    def _execute_once(self, store: FleetStore, inp: ExecuteActionInput) -> ActionResult:
        """The simulator's operations are instant, so each action is checked, applied, verified and
        committed in one section under the store lock (which is then also its lease). An operation
        that takes time (a disruptive one, with `operation_ms`) holds a site and a device lease
        instead while it runs outside the lock, so other runs start no disruptive work there meanwhile."""
        action = inp.action
        seconds = self._hooks.operation_ms / 1000 if action.disruptive else 0.0
        with _store_errors():
            if not seconds:
                with store.transaction() as tx:
                    early, record = self._gate(tx, inp)
                    return early or self._apply_and_commit(tx, inp, record)
            holder = f"{inp.run_id}/{action.id}"
            leases = [f"site:{action.site}", f"device:{action.equipment_id}"]
            early, record = self._lease(store, inp, holder, leases)
            if early is not None:
                return early
            try:
                started = datetime.now(UTC)
                self._operate(store, seconds, holder, leases)
                with store.transaction() as tx:  # the leases kept every other disruptive operation away
                    record = record.model_copy(update={
                        "at": datetime.now(UTC), "result": {**record.result, "operation_started_at": started.isoformat()}})
                    return self._apply_and_commit(tx, inp, record)
            finally:
                with store.transaction() as tx:
                    tx.release_leases(holder, now=time.time())

    def _gate(self, tx: Transaction, inp: ExecuteActionInput) -> tuple[ActionResult | None, ChangeRecord]:
        """Whatever stops the action before it touches the device, recorded; else None and its record.
        Already done (this run's ledger), the circuit breaker, the same repair just failed on this
        device in another run, or the device no longer as planned (its guard)."""
        action = inp.action
        record = _change_record(inp)
        prior = tx.ledger_entry(inp.run_id, action.id)
        if prior is not None:
            return _result_from_ledger(action, prior, attempts=activity.info().attempt), record
        if (tripped := _breaker(inp, tx.run_problems(inp.run_id))) is not None:
            return tripped, record
        stale = _stale_reason(tx, inp, record.at)
        if stale is not None:
            committed = tx.commit(record.model_copy(update={"outcome": Outcome.STALE.value, "detail": stale}))
            return _result(action, Outcome.STALE, stale, committed.seq), record
        return None, record

    def _apply_and_commit(self, tx: Transaction, inp: ExecuteActionInput, record: ChangeRecord) -> ActionResult:
        """Apply to a staged copy, verify, and commit the outcome: the unverified state is never written."""
        action = inp.action
        state = tx.device(action.equipment_id)
        assert state is not None
        try:
            after = actions.apply(action, state, inp.as_of, inp.rules)
        except actions.ApplyError as exc:
            committed = tx.commit(record.model_copy(update={"outcome": Outcome.FAILED.value, "detail": str(exc)}))
            return _result(action, Outcome.FAILED, str(exc), committed.seq)
        changes = actions.changed_fields(state, after)
        problem = actions.verify(action, state, after, inp.as_of, inp.rules)
        seen = actions.observed(action, state, after, inp.rules)
        if problem is not None:
            detail = f"verification failed: {problem}; rolled back to the prior state"
            now = _after_state(tx.fleet.life_years(), state, inp)  # rolled back: the device as it was
            committed = tx.commit(record.model_copy(update={
                "outcome": Outcome.ROLLED_BACK.value, "detail": detail,
                "result": {**record.result, "attempted": changes, **_observation(seen, now)}}))
            return _result(action, Outcome.ROLLED_BACK, detail, committed.seq, observed=seen, after=now)
        then = _after_state(tx.fleet.life_years(), after, inp)
        committed = tx.commit(record.model_copy(update={
            "outcome": Outcome.SUCCEEDED.value, "detail": f"verified: {seen}",
            "before": state, "after": after,
            "result": {**record.result, "changes": changes, **_observation(seen, then)}}))
        return _result(action, Outcome.SUCCEEDED, committed.detail, committed.seq, changes, observed=seen, after=then)

    def _lease(self, store: FleetStore, inp: ExecuteActionInput, holder: str,
               leases: list[str]) -> tuple[ActionResult | None, ChangeRecord]:
        """Take the site and device leases (waiting, heartbeating, while another run holds one), unless
        the action is stopped first: (early result, None) or (None, its record). The gate runs again
        after each wait, so an operation another run just finished on the device makes this one stale."""
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        while True:
            with store.transaction() as tx:
                early, record = self._gate(tx, inp)
                if early is not None:
                    return early, record
                busy = tx.take_leases(leases, holder, ttl_seconds=LEASE_TTL_SECONDS, now=time.time())
            if busy is None:
                return None, record
            if time.monotonic() > deadline:
                raise ApplicationError(f"{busy} for more than {LEASE_WAIT_SECONDS:.0f} s; will retry", type="LeaseBusy")
            activity.heartbeat(f"waiting: {busy}")
            time.sleep(LEASE_POLL_SECONDS)

    @staticmethod
    def _operate(store: FleetStore, seconds: float, holder: str, leases: list[str]) -> None:
        """The operation on the device (the simulator's take no time; `operation_ms` lends them some),
        heartbeating, and renewing its leases while it lasts (a dead worker's leases then lapse soon)."""
        deadline = time.monotonic() + seconds
        renew_at = time.monotonic() + LEASE_RENEW_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            activity.heartbeat("operating")
            if time.monotonic() >= renew_at:
                with store.transaction() as tx:
                    tx.take_leases(leases, holder, ttl_seconds=LEASE_TTL_SECONDS, now=time.time())
                renew_at = time.monotonic() + LEASE_RENEW_SECONDS
            time.sleep(min(left, 0.5))

    def _simulate(self, store: FleetStore, inp: ExecuteActionInput) -> ActionResult:
        action = inp.action
        report_dir = self.run_dir(inp.report_dir)
        if (tripped := _breaker(inp, self._simulated_problems(report_dir))) is not None:
            return tripped
        try:
            with store.transaction() as tx:  # read-only: nothing is committed
                state = tx.device(action.equipment_id)
                stale = _stale_reason(tx, inp, datetime.now(UTC))
                life = tx.fleet.life_years()
        except FleetDataError as exc:
            raise _non_retryable(exc, "FleetDataError") from None
        if stale is not None:
            result = _result(action, Outcome.STALE, stale, simulated=True)
        else:
            assert state is not None
            try:
                after = actions.apply(action, state, inp.as_of, inp.rules)
                changes = actions.changed_fields(state, after)
                problem = actions.verify(action, state, after, inp.as_of, inp.rules)
                seen = actions.observed(action, state, after, inp.rules)
                result = (_result(action, Outcome.SUCCEEDED, f"would verify: {seen}", changes=changes, simulated=True,
                                  observed=seen, after=_after_state(life, after, inp))
                          if problem is None else
                          _result(action, Outcome.ROLLED_BACK, f"verification would fail: {problem}", simulated=True,
                                  observed=seen, after=_after_state(life, state, inp)))
            except actions.ApplyError as exc:
                result = _result(action, Outcome.FAILED, str(exc), simulated=True)
        artifacts.append_simulated(report_dir, result)
        return result

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
        run, action = inp.action, inp.action.action
        with _store_errors(), self.store().transaction() as tx:
            prior = tx.ledger_entry(run.run_id, action.id)
            if prior is not None:  # an attempt did commit: the ledger has the truth
                return _result_from_ledger(action, prior)
            committed = tx.commit(_change_record(run).model_copy(update={
                "outcome": Outcome.FAILED.value, "detail": inp.detail}))
            return _result(action, Outcome.FAILED, inp.detail, committed.seq)

    @activity.defn
    def use_proof(self, inp: UseProofInput) -> bool:
        """A signed start is used once: False if another run already used this one."""
        from .core.identity import WINDOW

        with _store_errors():
            return self.store().use_proof(inp.nonce, inp.used_by, keep_until=inp.signed_at + 2 * WINDOW,
                                          now=datetime.now(UTC))

    @activity.defn
    def claim_run(self, inp: ClaimRunInput) -> None:
        """Make the report folder this run's: a second run under a reused workflow id must not report,
        or build on, what the first one did."""
        directory = self.run_dir(inp.report_dir)
        marker = directory / RUN_MARKER
        try:
            owner = orjson.loads(marker.read_bytes()).get("run_id")
        except FileNotFoundError:
            owner = None
        except (orjson.JSONDecodeError, AttributeError):
            owner = "(unreadable)"
        if owner is None:
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(marker, orjson.dumps({"run_id": inp.run_id, "workflow_id": inp.workflow_id}))
        elif owner != inp.run_id:
            raise ApplicationError(
                f"workflow id {inp.workflow_id} was already used by another run ({owner}), whose report is in "
                f"{directory}; start this run under a new workflow id", type="WorkflowIdReused", non_retryable=True)

    @activity.defn
    def run_progress(self, inp: RunProgressInput) -> OutcomeCounts:
        """What this run's actions have come to so far, from the ledger (or a dry run's simulation)."""
        if inp.dry_run:
            recorded = artifacts.read_simulated(self.run_dir(inp.report_dir))
            outcomes = dict(Counter(r.outcome.value for r in recorded.values()))
        else:
            outcomes = self.store().run_outcomes(inp.run_id)
        return OutcomeCounts(**{k: v for k, v in outcomes.items() if k in OutcomeCounts.model_fields})

    @activity.defn
    def compact_store(self, inp: CompactInput) -> int:
        """Write every committed change into the JSON files (large fleets defer this to run end)."""
        with _store_errors():
            return self.store().compact()

    # -- report ------------------------------------------------------------------------------
    @activity.defn
    def write_report(self, inp: ReportInput) -> ReportRef:
        """Build report.json and report.md from the artifacts and the ledger (what really happened)."""
        directory = self.run_dir(inp.artifact_dir)
        detection = analysis = plan = None
        if (directory / artifacts.DETECTION).exists():
            detection = self._read(directory, artifacts.DETECTION, artifacts.DetectionArtifact)
        if (directory / artifacts.ANALYSIS).exists():
            analysis = self._read(directory, artifacts.ANALYSIS, artifacts.AnalysisArtifact)
        if (directory / artifacts.PLAN).exists():
            plan = self._read(directory, artifacts.PLAN, artifacts.PlanArtifact)
        report_dir = self.run_dir(inp.report_dir)
        if inp.dry_run:
            recorded = artifacts.read_simulated(report_dir)
        else:
            recorded = {
                c.action_id: _result_from_ledger(None, c)
                for c in self.store().ledger_for(inp.run_id) if c.action_id
            }
        advice = None
        if (directory / artifacts.ADVICE).exists():
            advice = self._read(directory, artifacts.ADVICE, artifacts.AdviceArtifact)
        report = build_report(inp, detection, analysis, plan, recorded, advisor_summary(advice, inp.advisor_note),
                              executor=EXECUTOR)
        report.files = dict(REPORT_FILES)
        report_dir.mkdir(parents=True, exist_ok=True)
        # The small files first and report.json last: a reader that finds report.json finds the rest.
        atomic_write_bytes(report_dir / "actions.csv", actions_csv(report).encode())
        atomic_write_bytes(report_dir / "findings.csv", findings_csv(report).encode())
        md_path, html_path, json_path = report_dir / "report.md", report_dir / "report.html", report_dir / "report.json"
        atomic_write_bytes(md_path, render_markdown(report).encode())
        atomic_write_bytes(html_path, render_html(report).encode())
        atomic_write_bytes(json_path, report.model_dump_json(indent=2).encode())
        return ReportRef(directory=str(report_dir), markdown=str(md_path), json_path=str(json_path),
                         html=str(html_path), summary=report.summary)

    @activity.defn
    def read_run_artifact(self, inp: ReadArtifactInput) -> ArtifactPage:
        """One page of a run's plan, detection or report, for a client that cannot see this worker's
        disk (another machine, another REPORTS_DIR). Only READABLE_ARTIFACTS, only under REPORTS_DIR."""
        if inp.name not in READABLE_ARTIFACTS:
            raise ApplicationError(f"{inp.name[:80]!r} is not a readable run artifact; readable are "
                                   f"{', '.join(READABLE_ARTIFACTS)}", type="UnsafePath", non_retryable=True)
        path = self.run_dir(inp.run_dir) / inp.name
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                fh.seek(inp.offset)
                data = fh.read(inp.limit + 1)
        except FileNotFoundError:
            raise ApplicationError(f"{inp.run_dir}/{inp.name} is not in this worker's REPORTS_DIR "
                                   f"({self._reports_root}): the run has not written it yet, or it was deleted",
                                   type="ArtifactMissing", non_retryable=True) from None
        cut = len(data)
        if cut > inp.limit:  # not the last page: end it before a character that continues past it
            cut = inp.limit
            while cut > 0 and data[cut] & 0xC0 == 0x80:
                cut -= 1
        return ArtifactPage(text=data[:cut].decode("utf-8"), offset=inp.offset, next_offset=inp.offset + cut,
                            size=size)

    # -- notifications and the proactive agent's bookkeeping --------------------------------------
    @activity.defn
    async def notify(self, inp: NotifyInput) -> NotifyResult:
        """POST the message (Slack Block Kit with a `text` fallback, see core/notify.py) to the webhook.
        Bounded: Temporal retries it a few times, then the agent carries on without it."""
        url = inp.url or self._notifications.webhook_url
        if not url:
            return NotifyResult(delivered=False, destination="(no webhook configured)")
        actions = await asyncio.to_thread(self._notified_actions, inp)
        payload = messages.slack_message(inp, actions, self._links())
        return await self._post("webhook", url, payload, inp.timeout_seconds, "Webhook",
                                secrets=(url, urlsplit(url).path, urlsplit(url).query))

    @activity.defn
    async def page(self, inp: PageInput) -> NotifyResult:
        """Send one PagerDuty Events v2 event with this worker's PAGERDUTY_ROUTING_KEY (which never
        enters workflow history). Bounded like the webhook: a dead endpoint never fails a run."""
        notifications = self._notifications
        if not notifications.pagerduty_routing_key:
            return NotifyResult(delivered=False, destination="(no PagerDuty routing key configured)")
        body = messages.pagerduty_body(inp, notifications.pagerduty_routing_key, self._links())
        return await self._post("PagerDuty", notifications.pagerduty_events_url, body, inp.timeout_seconds,
                                "PagerDuty", secrets=(notifications.pagerduty_routing_key,))

    async def _post(self, what: str, url: str, payload: dict[str, Any], timeout: float, error_type: str, *,
                    secrets: tuple[str, ...] = ()) -> NotifyResult:
        """POST JSON; 429 and 5xx are retried (`<error_type>Error`), other 4xx are not (`<error_type>Rejected`).
        Errors name the URL's scheme and host only (webhook URLs carry tokens in their path)."""
        destination = _redacted(url)
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                response = await http.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise ApplicationError(f"{what} {destination} unreachable: {type(exc).__name__}",
                                   type=f"{error_type}Error") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise ApplicationError(f"{what} {destination} answered {response.status_code}", type=f"{error_type}Error")
        if response.status_code >= 400:
            said = _said(response, secrets)
            raise ApplicationError(f"{what} {destination} refused the message ({response.status_code}"
                                   + (f": {said}" if said else "") + ")",
                                   type=f"{error_type}Rejected", non_retryable=True)
        return NotifyResult(delivered=True, status_code=response.status_code, destination=destination)

    def _links(self) -> messages.Links:
        n = self._notifications
        namespace = activity.info().workflow_namespace if activity.in_activity() else "default"
        return messages.Links(namespace=namespace, temporal_ui_url=n.temporal_ui_url, reports_url=n.reports_url,
                              reports_label=n.reports_label)

    def _notified_actions(self, inp: NotifyInput) -> list[PlannedAction] | None:
        """The actions of the cycle's plan the message is about (None: none to read, or unreadable:
        the message then goes without them rather than not at all)."""
        if not inp.cycle_dir or inp.selection is None:
            return None
        try:
            plan = self._read(self.run_dir(inp.cycle_dir), artifacts.PLAN, artifacts.PlanArtifact)
        except ApplicationError as exc:
            log.warning("notification for cycle %d goes without its actions: %s", inp.cycle, exc.message)
            return None
        return messages.select(plan.actions, inp.selection)

    @activity.defn
    def last_cycle(self, inp: LastCycleInput) -> int:
        """The highest cycle number any earlier incarnation of this agent left a folder for (0: none), so
        a restarted agent goes on counting instead of sending a second, different "cycle 1"."""
        root = self.run_dir(inp.agent_workflow_id)
        if not root.is_dir():
            return 0
        found = [0]
        for path in [*root.glob("cycle-*"), *root.glob("*/cycle-*")]:  # before and since per-incarnation folders
            number = path.name.removeprefix("cycle-")
            if path.is_dir() and number.isdigit():
                found.append(int(number))
        return max(found)

    @activity.defn
    async def still_open(self, inp: StillOpenInput) -> list[str]:
        """Which of these approval runs are still running. A run that was terminated or cancelled never
        tells the agent it finished; without this its actions would never be proposed again."""
        if self._client is None:
            return list(inp.workflow_ids)
        running = []
        deadline = time.monotonic() + inp.settle_seconds
        for workflow_id in inp.workflow_ids:
            while await self._running(workflow_id):
                # A run that said it finished closes right after its signal; one that keeps running
                # past the deadline sent a forged (or early) signal and stays open.
                if workflow_id not in inp.said_finished or time.monotonic() >= deadline:
                    running.append(workflow_id)
                    break
                activity.heartbeat(workflow_id)
                await asyncio.sleep(0.2)
        return running

    async def _running(self, workflow_id: str) -> bool:
        assert self._client is not None
        try:
            desc = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:  # gone (retention): certainly not open
                return False
            raise
        return desc.status == WorkflowExecutionStatus.RUNNING

    @activity.defn
    async def list_open_approvals(self, inp: OpenChildrenInput) -> list[OpenApproval]:
        """Approval runs a previous incarnation of the proactive agent left open (so they are not
        proposed again)."""
        if self._client is None:
            return []
        found = []
        query = f"WorkflowId STARTS_WITH '{inp.prefix}' AND ExecutionStatus = 'Running'"
        try:
            async for wf in self._client.list_workflows(query, limit=1000):
                memo = await wf.memo()
                if memo.get("kind") == "approval" and "artifact_dir" in memo:
                    found.append(OpenApproval(workflow_id=wf.id, cycle=int(memo.get("cycle", 0)),
                                              artifact_dir=str(memo["artifact_dir"]),
                                              actions=int(memo.get("actions", 0)), started_at=wf.start_time,
                                              includes_routine=bool(memo.get("includes_routine", True))))
        except RPCError as exc:  # e.g. a server without advanced visibility: carry on without
            log.warning("could not list open approval runs (%s); earlier proposals may be repeated", exc.message)
        return found

    @activity.defn
    async def listing_attributes(self) -> list[str]:
        """The search attributes a run may set: none unless this namespace has all of the listing's
        (MaintenanceOutcome, …) with their types, since upserting an unregistered attribute fails the
        run's workflow task; never MaintenanceSites where payloads are encrypted (search attributes
        cannot be, and site names are fleet data). Asked once a minute at most; a server that refuses
        to say counts as "not registered"."""
        if self._client is None:
            return []
        now = time.monotonic()
        if self._attributes_checked is None or now - self._attributes_checked[0] >= ATTRIBUTES_RECHECK_SECONDS:
            try:
                response = await self._client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self._client.namespace))
            except RPCError as exc:
                log.warning("could not list the namespace's search attributes (%s); runs are listed from their "
                            "memo and are not filterable by MaintenanceOutcome", exc.message)
                missing = ["(unknown)"]
            else:
                missing = missing_attributes(dict(response.custom_attributes))
                if missing:
                    log.warning("search attribute(s) %s are not registered in namespace %s: runs are not filterable "
                                "by them until they are (see the README: `temporal operator search-attribute create`)",
                                ", ".join(missing), self._client.namespace)
            self._attributes_checked = (now, not missing)
        if not self._attributes_checked[1]:
            return []
        return settable_attributes(encrypted=self._client.data_converter.payload_codec is not None)

    def _read(self, directory: Path, name: str, model: type[artifacts.M]) -> artifacts.M:
        if name == artifacts.PLAN:  # read per batch by every site child of a large run: parse it once
            path = directory / name
            with contextlib.suppress(OSError):
                st = path.stat()
                key = (str(path), st.st_mtime_ns, st.st_size)
                with self._plans_lock:
                    if key in self._plans:
                        return self._plans[key]  # type: ignore[return-value]
                plan = self._read_uncached(directory, name, model)
                with self._plans_lock:
                    self._plans[key] = plan
                    while len(self._plans) > PLAN_CACHE_SIZE:
                        self._plans.pop(next(iter(self._plans)))
                return plan
        return self._read_uncached(directory, name, model)

    def _read_uncached(self, directory: Path, name: str, model: type[artifacts.M]) -> artifacts.M:
        try:
            return artifacts.read(directory, name, model)
        except artifacts.ArtifactError as exc:
            raise _non_retryable(exc, "ArtifactError") from None


LEASE_TTL_SECONDS = 30.0
LEASE_RENEW_SECONDS = 5.0
"""A lease lapses 30 s after it was last taken or renewed; an operation renews its own every 5 s."""
LEASE_WAIT_SECONDS = 60.0
LEASE_POLL_SECONDS = 0.1
RUN_MARKER = "run.json"
"""In a run's report folder: which run owns it."""
REPORT_FILES = {"report.md": "for people", "report.html": "the same, one self-contained page",
                "actions.csv": "every action, observed evidence and changes", "findings.csv": "every finding"}
EXECUTOR = "simulated"
"""This worker's executor: the JSON fleet simulator changes the data files, never a real device."""
MAX_INLINE_DATA_ERRORS = 50
PLAN_CACHE_SIZE = 2


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def _said(response: httpx.Response, secrets: tuple[str, ...]) -> str:
    """What a receiver said when it refused a message (Slack: e.g. `invalid_blocks`; PagerDuty lists
    its reasons), in one short line, with any secret blanked in case it is quoted back."""
    try:
        body = response.json()
        said = ("; ".join(str(e) for e in body.get("errors") or []) or str(body.get("message") or "")
                if isinstance(body, dict) else "")
    except ValueError:
        said = response.text
    said = " ".join(said.split())
    for secret in secrets:
        if len(secret) > 3:
            said = said.replace(secret, "<redacted>")
    return said[:200]


def advisor_summary(advice: artifacts.AdviceArtifact | None, note: str | None) -> dict[str, Any]:
    """The report's `advisor` block: which parts came from the model, which model, tokens, latency."""
    if advice is None:
        return {"used": False, "note": note or "rules only (no LLM configured)"}
    block: dict[str, Any] = advice.model_dump(mode="json")
    block["note"] = (f"{advice.model}: {', '.join(advice.parts)} ({advice.prompt_tokens} prompt + "
                     f"{advice.completion_tokens} completion tokens, {advice.latency_ms / 1000:.1f} s)"
                     if advice.used else f"rules only: the advisor ({advice.model}) gave no usable answer — "
                     + "; ".join(advice.notes[-2:]))
    return block


def _select(plan: artifacts.PlanArtifact, ids: list[str], where: str) -> list[PlannedAction]:
    wanted = set(ids)
    chosen = [a for a in plan.actions if a.id in wanted]
    if len(chosen) != len(wanted):
        missing = sorted(wanted - {a.id for a in chosen})[:5]
        raise ApplicationError(f"the plan in {where} has no action(s) {', '.join(missing)}",
                               type="PlanMismatch", non_retryable=True)
    return chosen


def _change_record(inp: ExecuteActionInput) -> ChangeRecord:
    """The ledger line for this action of this run, its outcome still to be filled in."""
    action = inp.action
    return ChangeRecord(at=datetime.now(UTC), actor=inp.actor, run_id=inp.run_id, workflow_id=inp.workflow_id or None,
                        action_id=action.id, action=action.action.value, equipment_id=action.equipment_id,
                        site=action.site, outcome="", result={"approved_by": inp.approved_by})


def _stale_reason(tx: Transaction, inp: ExecuteActionInput, now: datetime) -> str | None:
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


def worker_approval_policy(policy: ApprovalPolicy, keys_dir: Path | None) -> ApprovalPolicy:
    """The worker's policy with its public keys. Proof is required wherever a name decides something
    (APPROVERS or the four-eyes rule); without keys nobody could act, which the worker refuses at start."""
    from .identity import load_public_keys

    keys = load_public_keys(keys_dir) if keys_dir is not None else {}
    return policy.model_copy(update={
        "keys": keys, "require_proof": bool(policy.approvers) or policy.require_distinct_approver})


def _breaker(inp: ExecuteActionInput, problems: int) -> ActionResult | None:
    """NOT_RUN if the run's circuit breaker has tripped: `problems` failed or rolled-back actions, counted
    across every site child of the run, at or over its `max_failures`."""
    if inp.max_failures is None or problems < inp.max_failures:
        return None
    action = inp.action
    return ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                        action=action.action, outcome=Outcome.NOT_RUN, circuit_breaker=True,
                        detail=f"not started: the circuit breaker tripped after {problems} failed or rolled-back "
                               f"action(s) in this run (MAX_FAILURES {inp.max_failures})")


def plan_result(planned: list[PlannedAction], excluded: int = 0) -> PlanResult:
    summary = PlanResult(
        total=len(planned),
        by_site=dict(sorted(Counter(a.site for a in planned).items())),
        by_risk=dict(Counter(a.risk for a in planned)),
        by_action=dict(sorted(Counter(a.action.value for a in planned).items())),
        excluded=excluded,
    )
    if len(planned) <= INLINE_LIMIT:
        by_site: dict[str, list[str]] = {}
        for a in planned:
            by_site.setdefault(a.site, []).append(a.id)
        summary.action_ids = [a.id for a in planned]
        summary.routine_ids = [a.id for a in planned if a.routine]
        summary.ids_by_site = dict(sorted(by_site.items()))
        summary.actions = planned
        return summary
    sites = sorted({a.site for a in planned})
    index = {site: i for i, site in enumerate(sites)}
    ranges: list[tuple[int, int]] = []
    for a in planned:
        n = int(a.id[1:])
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    summary.compact, summary.id_ranges, summary.sites = True, ranges, sites
    summary.site_index = [index[a.site] for a in planned]
    summary.routine_mask = "".join("1" if a.routine else "0" for a in planned)
    return summary


def _result(action: PlannedAction, outcome: Outcome, detail: str, seq: int | None = None,
            changes: dict | None = None, simulated: bool = False, observed: str = "",
            after: DeviceAfter | None = None) -> ActionResult:
    return ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                        action=action.action, outcome=outcome, detail=detail, simulated=simulated,
                        changes=changes or {}, audit_seq=seq, finished_at=datetime.now(UTC),
                        attempts=activity.info().attempt if activity.in_activity() else 1,
                        observed=observed, after=after, executor=EXECUTOR)


def _heartbeat_while_waiting() -> None:
    """Waiting for the store lock (another process writes): an activity says it is alive meanwhile, so
    its heartbeat timeout (10 s for an action) does not mistake the wait for a dead worker."""
    if activity.in_activity():
        activity.heartbeat("waiting for the fleet store lock")


def _after_state(life_years: Mapping[tuple[str, str], float], state: DeviceState,
                 inp: ExecuteActionInput) -> DeviceAfter:
    """The device judged by the run's rules just after the operation (its new reading included)."""
    return device_after(state, life_years, inp.rules, inp.as_of + actions.READING_OFFSET)


def _observation(seen: str, after: DeviceAfter) -> dict[str, Any]:
    """What the ledger keeps of verification: the evidence and the device's after-state."""
    return {"observed": seen, "device_after": after.model_dump(mode="json"), "executor": EXECUTOR}


def _result_from_ledger(action: PlannedAction | None, change: ChangeRecord, attempts: int = 1) -> ActionResult:
    return ActionResult(
        action_id=change.action_id or "", equipment_id=change.equipment_id or "",
        site=action.site if action else (change.site or ""),
        action=change.action or (action.action if action else ""), outcome=Outcome(change.outcome),
        detail=change.detail, changes=change.result.get("changes", {}), audit_seq=change.seq,
        finished_at=change.at, attempts=attempts, observed=str(change.result.get("observed", "")),
        after=DeviceAfter.model_validate(change.result["device_after"]) if change.result.get("device_after") else None,
        executor=str(change.result.get("executor", EXECUTOR)),
    )

