"""Workflows: orchestration only. All I/O is in activities; all decisions in the pure core.

`InfrastructureMaintenanceWorkflow` is one DAPER run: detect, analyze, plan, wait for approval,
execute, report. Small plans execute inline (one activity per action); large plans execute in one
`SiteExecutionWorkflow` child per site, which continues-as-new to keep its history small. Either
way a site runs at most one disruptive action at a time, sites run in parallel, and a circuit
breaker stops launching actions after `max_failures` failures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError

with workflow.unsafe.imports_passed_through():
    from .activities import MaintenanceActivities
    from .core import identity
    from .core.approval import ApprovalRejected, auto_approval_refusal, check_decision, effective_policy
    from .core.ids import unsafe_user, unsafe_workflow_id
    from .core.listing import cycle_run_details, indexed_phase, listed_sites, outcome_label, run_details
    from .core.notify import cycle_failure_key, page_event, top_counts
    from .models.core import ActionResult, Outcome, PlannedAction, Risk
    from .models.listing import MEMO_KEY, OUTCOME_ATTRIBUTE, SITES_ATTRIBUTE, STARTER_ATTRIBUTE, RunCard
    from .models.workflow import (
        INLINE_LIMIT,
        MAX_INTERVAL_MINUTES,
        MIN_INTERVAL_MINUTES,
        ActionSelection,
        AdviseInput,
        AnalyzeInput,
        AnalyzeResult,
        ApprovalPolicy,
        ApprovalRequest,
        ApprovalResult,
        ChildOutcome,
        ClaimRunInput,
        CompactInput,
        CycleSummary,
        Decision,
        DecisionKind,
        DetectInput,
        DetectResult,
        ExecuteActionInput,
        FindingsView,
        GiveUpInput,
        GrantCheckInput,
        GrantRequest,
        LastCycleInput,
        LoadActionsInput,
        LoadPlanInput,
        MaintenanceInput,
        MaintenanceResult,
        NotifyInput,
        OpenApproval,
        OpenChildrenInput,
        OutcomeCounts,
        PageEvent,
        PageInput,
        ParentCheckInput,
        PendingAction,
        Phase,
        PhaseMark,
        PlanInput,
        PlanRef,
        PlanResult,
        PlanView,
        ProactiveInput,
        ProactivePhase,
        ProactiveStatus,
        ReportInput,
        ReportRef,
        ResultsView,
        RunProgressInput,
        RunStatus,
        SetIntervalRequest,
        SiteBatchInput,
        SiteBatchResult,
        StillOpenInput,
        UseProofInput,
    )

STEP_TIMEOUT = timedelta(minutes=15)
STEP_HEARTBEAT = timedelta(minutes=2)
ADVISE_TIMEOUT = timedelta(minutes=10)
ACTION_TIMEOUT = timedelta(minutes=5)
ACTION_HEARTBEAT = timedelta(seconds=10)
"""A worker that dies mid-action is noticed within this time and the action is retried elsewhere."""
STEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                         maximum_attempts=5, non_retryable_error_types=["FleetDataError", "ArtifactError", "PlanMismatch"])
ACTION_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=10),
                           maximum_attempts=10, non_retryable_error_types=["FleetDataError", "PlanMismatch"])
"""Ten attempts (about a minute with backoff): a flaky dependency rarely turns into a failed repair,
and every retry is safe because the ledger makes the action idempotent."""
NON_DISRUPTIVE_PER_SITE = 8
"""Non-disruptive actions (contracts, bookings, tuning) run concurrently, this many per site."""
MAX_PARALLEL_SITES = 16
BATCH_SIZE = 500
"""A site child runs this many actions per run, then continues as new (~1,600 history events)."""


async def run_step(fn: Callable[..., Awaitable], arg: object, summary: str):  # noqa: ANN201
    """One pipeline step (detect, analyze, plan, report, …) with the shared timeouts and retries."""
    return await workflow.execute_activity_method(
        fn, arg, start_to_close_timeout=STEP_TIMEOUT, heartbeat_timeout=STEP_HEARTBEAT,
        retry_policy=STEP_RETRY, summary=summary)


WORKER_POLICY_PATCH = "worker-approval-policy"
FORGET_CLOSED_APPROVALS_PATCH = "forget-closed-approvals"
RUN_LEDGER_PATCH = "ledger-per-run"
AGENT_PROOF_PATCH = "agent-proves-its-starter"
STARTER_PROOF_PATCH = "run-proves-its-starter"
"""Runs recorded before starts and decisions were signed keep the rules they started under."""
SITE_GRANT_PATCH = "site-child-asks-its-parent"
CONFIRM_FINISHED_PATCH = "agent-confirms-finished-runs"
PROVE_FIRST_PATCH = "run-proves-its-starter-first"
GIVE_UP_PATCH = "ledger-records-give-ups"
CYCLE_DIR_PATCH = "cycle-folders-per-incarnation"
STABLE_DIGEST_PATCH = "start-digest-without-defaults"
PAGERDUTY_PATCH = "agent-runs-page-pagerduty"
CYCLE_NUMBERS_PATCH = "cycles-numbered-across-incarnations"
AGENT_PAGES_PATCH = "agent-pages-failed-cycles"
LISTING_PATCH = "run-publishes-its-outcome"
"""Patch markers: histories recorded before these steps existed replay without them. Site children
ask their parent for a grant; the agent confirms a run closed before forgetting it; a run proves its
starter before it claims a folder; an action that gave up is recorded in the ledger; an agent's cycle
folders are under its first run id; a start's digest leaves out fields at their defaults (so a field
added later does not change the digest of a signed run being replayed). The agent's runs send
PagerDuty events; a fresh agent goes on numbering cycles from its earlier incarnations; the agent
pages failed cycles and resolves that incident after a clean one; a run publishes its outcome and
counts in its memo (and search attributes, where registered) at each phase change."""
PROGRESS_INTERVAL = timedelta(seconds=3)
"""How often a run executing in site children reads its progress from the ledger."""


def requested_policy(inp: MaintenanceInput | ProactiveInput) -> ApprovalPolicy:
    """The approval policy the client that started the workflow asked for."""
    return ApprovalPolicy(approvers=inp.approvers, require_distinct_approver=inp.require_distinct_approver)


async def worker_policy(inp: MaintenanceInput | ProactiveInput) -> ApprovalPolicy:
    """The approval policy to enforce: the worker's settings, tightened by what the client asked for."""
    requested = requested_policy(inp)
    if not workflow.patched(WORKER_POLICY_PATCH):
        return requested
    worker = await workflow.execute_activity_method(
        MaintenanceActivities.approval_policy, start_to_close_timeout=timedelta(seconds=30),
        retry_policy=STEP_RETRY, summary="approval policy of the worker (APPROVERS, four-eyes)")
    return effective_policy(requested, worker)


def refuse_unsafe_names(workflow_id: str, started_by: str) -> None:
    """Fail the run before it does anything if its id or starter could not safely name a folder or a
    person (a raw client can start a workflow with any id and any input)."""
    for what, value, problem in (("workflow id", workflow_id, unsafe_workflow_id(workflow_id)),
                                 ("started_by", started_by, unsafe_user(started_by))):
        if problem:
            raise ApplicationError(f"refusing to run: the {what} {value[:80]!r} is not a safe name ({problem}); "
                                   f"start the run with the scripts, the MCP server or a safe id",
                                   type="UnsafeName", non_retryable=True)


class NotProven(Exception):
    """Who started the run could not be proven where the worker requires proof."""


async def prove_starter(inp: MaintenanceInput | ProactiveInput, workflow_id: str, policy: ApprovalPolicy,
                        purpose: str) -> None:
    """Raise `NotProven` unless the starter signed this very start, once (a proof copied from history
    is refused by the worker's store of used proofs), or a proactive agent whose own start they signed
    started the run (the server, not the client, says who the parent is)."""
    info = workflow.info()
    if inp.start_proof is None and info.parent is not None and isinstance(inp, MaintenanceInput):
        verified = await run_step(MaintenanceActivities.verify_parent_agent,
                                  ParentCheckInput(workflow_id=info.parent.workflow_id, run_id=info.parent.run_id,
                                                   started_by=inp.started_by),
                                  "is the parent a proactive agent its starter signed for?")
        if not verified:
            raise NotProven(f"refusing to run for {inp.started_by!r}: the run was started by "
                            f"{info.parent.workflow_id}, which is not a proactive agent whose start they signed")
        return
    fields = identity.start_fields(workflow_id, inp, stable=workflow.patched(STABLE_DIGEST_PATCH))
    problem = identity.refusal(inp.started_by, purpose, fields,
                               inp.start_proof, policy.keys, now=info.workflow_start_time)
    if problem is None and inp.start_proof is not None:
        first_use = await run_step(MaintenanceActivities.use_proof,
                                   UseProofInput(nonce=inp.start_proof.nonce, signed_at=inp.start_proof.signed_at,
                                                 used_by=f"{workflow_id}@{info.first_execution_run_id}"),
                                   "is this signed start used for the first time?")
        problem = None if first_use else "this signed start was already used once; sign a new one"
    if problem:
        raise NotProven(f"refusing to run for {inp.started_by!r}: {problem}")


def cause_message(err: BaseException) -> str:
    """The innermost failure's message: what actually went wrong, in one line."""
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
    text = err.message if isinstance(err, FailureError) else str(err)
    return (text or type(err).__name__).splitlines()[0]


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
        self.halted = failures >= max_failures
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
            self._on_result(_not_run(action, "not started: circuit breaker tripped after "
                                             f"{self.failures} failure(s)"))
            return
        try:
            result = await workflow.execute_activity_method(
                MaintenanceActivities.execute_action, self._make_input(action),
                start_to_close_timeout=ACTION_TIMEOUT, heartbeat_timeout=ACTION_HEARTBEAT, retry_policy=ACTION_RETRY,
                summary=f"{action.id}: {action.action.value} on {action.equipment_id} ({action.site})",
            )
        except ActivityError as err:
            result = ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                                  action=action.action, outcome=Outcome.FAILED,
                                  detail=f"gave up after retries: {cause_message(err)}")
            if self._ledger_give_ups:
                result = await self._record_give_up(action, result)
        if result.circuit_breaker:
            self.halted = True
        elif result.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK):
            self.failures += 1
            if self.failures >= self.max_failures:
                self.halted = True
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
                summary=f"{action.id}: record that it gave up")
        except ActivityError:
            return failed


def _not_run(action: PlannedAction, detail: str) -> ActionResult:
    return ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                        action=action.action, outcome=Outcome.NOT_RUN, detail=detail, circuit_breaker=True)


@workflow.defn
class InfrastructureMaintenanceWorkflow:
    """One DAPER run over the fleet, with human approval and an honest report."""

    @workflow.init
    def __init__(self, inp: MaintenanceInput) -> None:
        self._input = inp
        self._phase = Phase.INITIALIZING
        self._started_at = workflow.now()
        self._phases = [PhaseMark(phase=Phase.INITIALIZING, at=self._started_at)]
        self._wid = workflow.info().workflow_id
        self._report_dir = self._wid  # relative to the worker's REPORTS_DIR (see models.workflow)
        self._artifact_dir = inp.source_plan.artifact_dir if inp.source_plan else self._report_dir
        self._as_of: datetime | None = None
        self._detect: DetectResult | None = None
        self._analysis: AnalyzeResult | None = None
        self._plan: PlanResult | None = None
        self._pending_ids: set[str] = set()
        self._plan_ids: list[str] = []
        self._actions: dict[str, PlannedAction] = {}
        self._decision: Decision | None = None
        self._approved_ids: list[str] | None = None
        self._deadline: datetime | None = None
        self._counts = OutcomeCounts()
        self._results: list[ActionResult] = []
        self._executed = 0
        self._to_execute = 0
        self._halted = False
        self._site_failures = 0  # runs recorded before the ledger breaker only (see site_failed)
        self._ledger_key = self._wid
        self._progress = OutcomeCounts()
        self._report: ReportRef | None = None
        self._error: str | None = None
        self._advisor_note: str | None = None
        self._llm_ids: set[str] = set()
        self._routine_total = 0
        # What the validator enforces: the client's request until the worker's policy is in (first step).
        self._policy = requested_policy(inp)
        self._auto_refused: str | None = None
        self._nonces: set[str] = set()
        self._proof_required = False
        self._proposal_page: asyncio.Task[None] | None = None
        """The PagerDuty trigger for a proposal, sent while the run waits (its resolve goes after it)."""
        self._listing = False
        """Runs recorded before the listing card publish nothing (see _start_listing)."""
        self._indexed: set[str] = set()
        """The search attributes this run sets (registered in the namespace; see listing_attributes)."""
        self._card: RunCard | None = None
        self._attributes: dict[str, Any] = {}

    # -- the run ---------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
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
            self._ledger_key = workflow.info().first_execution_run_id
            try:
                await run_step(MaintenanceActivities.claim_run,
                               ClaimRunInput(report_dir=self._report_dir, run_id=self._ledger_key, workflow_id=self._wid),
                               "claim the run's report folder")
            except ActivityError as err:  # no report: the folder is another run's
                raise ApplicationError(cause_message(err), type="WorkflowIdReused", non_retryable=True) from None
        try:
            if workflow.patched(LISTING_PATCH):
                await self._start_listing()
            if not proved_first:  # histories recorded before: the check was part of the run, with a report
                await self._check_starter(inp)
            await self._assess(inp)
            assert self._plan is not None
            if self._plan.total == 0:
                return await self._finish(Phase.NO_ACTION_NEEDED)
            await self._decide(inp)
            assert self._decision is not None
            if self._decision.kind in (DecisionKind.REJECTED, DecisionKind.EXPIRED):
                return await self._finish(Phase.REJECTED if self._decision.kind is DecisionKind.REJECTED else Phase.EXPIRED)
            await self._execute(inp)
            return await self._finish(Phase.COMPLETED)
        except (ActivityError, ChildWorkflowError, NotProven) as err:
            self._error = cause_message(err)
            workflow.logger.error("maintenance run failed: %s", self._error)
            await self._finish(Phase.FAILED)
            raise ApplicationError(self._error, type="MaintenanceRunFailed", non_retryable=True) from None

    async def _start_listing(self) -> None:
        """From now on publish this run's card in its memo at each phase change (what `--list` and
        list_maintenance_runs show without asking the run), and its search attributes for filtering,
        but only where the namespace has them registered: upserting an unregistered one would fail
        every workflow task of the run."""
        self._listing = True
        try:
            self._indexed = set(await workflow.execute_activity_method(
                MaintenanceActivities.listing_attributes, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3), summary="which search attributes are registered?"))
        except ActivityError:  # an older worker without the activity, or no answer: listed from the memo only
            self._indexed = set()
        self._publish()

    def _publish(self) -> None:
        if not self._listing:
            return
        counts = self._live()
        card = RunCard(outcome=outcome_label(self._phase, counts), phase=self._phase,
                       started_by=self._input.started_by, dry_run=self._input.dry_run,
                       devices=self._devices(), findings=self._detect.findings_total if self._detect else 0,
                       actions=self._plan.total if self._plan else 0,
                       decided_by=self._decision.by if self._decision else None, outcomes=counts)
        if card != self._card:
            self._card = card
            workflow.upsert_memo({MEMO_KEY: card})
        if not self._indexed:
            return
        wanted: list[tuple[SearchAttributeKey, Any]] = [(STARTER_ATTRIBUTE, self._input.started_by)]
        if indexed_phase(self._phase):  # not the passing phases of the analysis: fewer events in history
            wanted.append((OUTCOME_ATTRIBUTE, card.outcome))
        if self._plan is not None and self._plan.by_site:
            wanted.append((SITES_ATTRIBUTE, listed_sites(self._plan.by_site)))
        changed = [(key, value) for key, value in wanted
                   if key.name in self._indexed and self._attributes.get(key.name) != value]
        if changed:
            workflow.upsert_search_attributes([key.value_set(value) for key, value in changed])
            self._attributes.update((key.name, value) for key, value in changed)

    def _devices(self) -> int | None:
        """Devices the run checked; for a run of a proactive cycle's plan, the devices that plan touches."""
        if self._detect is not None:
            return self._detect.summary.devices
        if self._actions and len(self._actions) == len(self._plan_ids):
            return len({a.equipment_id for a in self._actions.values()})
        return None

    async def _check_starter(self, inp: MaintenanceInput) -> None:
        """The worker's approval policy; where it requires proof, the starter's (`NotProven` if not)."""
        self._policy = await worker_policy(inp)
        self._proof_required = self._policy.require_proof and workflow.patched(STARTER_PROOF_PATCH)
        if self._proof_required:
            await prove_starter(inp, self._wid, self._policy, identity.START)

    async def _assess(self, inp: MaintenanceInput) -> None:
        if inp.source_plan is not None:
            self._set_phase(Phase.PLANNING, "loading the plan made by the proactive agent")
            self._as_of = inp.source_plan.as_of
            self._plan = await run_step(MaintenanceActivities.load_plan,
                                          LoadPlanInput(artifact_dir=inp.source_plan.artifact_dir,
                                                        action_ids=inp.source_plan.action_ids),
                                          f"load {len(inp.source_plan.action_ids)} planned action(s)")
        else:
            self._set_phase(Phase.MONITORING, "reading the fleet and running the detection rules")
            self._detect = await run_step(
                MaintenanceActivities.detect_fleet,
                DetectInput(run_id=self._wid, artifact_dir=self._artifact_dir,
                            rules=inp.rules, as_of=inp.as_of, record_health=not inp.dry_run),
                "detect: load, validate and check every device",
            )
            self._as_of = self._detect.as_of
            self._set_phase(Phase.ANALYZING, f"{self._detect.findings_total} finding(s): grouping into problems")
            self._analysis = await run_step(MaintenanceActivities.analyze_findings,
                                              AnalyzeInput(artifact_dir=self._artifact_dir),
                                              "analyze: problems, causes, blast radius")
            self._set_phase(Phase.PLANNING, f"{self._analysis.problems_total} problem(s): choosing repairs")
            self._plan = await run_step(MaintenanceActivities.plan_maintenance,
                                          PlanInput(artifact_dir=self._artifact_dir, as_of=self._as_of, rules=inp.rules),
                                          "plan: map problems to catalog actions")
            if inp.advisor:
                await self._advise(inp)
        self._index_plan()

    def _index_plan(self) -> None:
        """Expand the (possibly compact) plan once: every later activation, replay and query reuses it."""
        assert self._plan is not None
        self._plan_ids = self._plan.ids()
        self._pending_ids = set(self._plan_ids)
        self._actions = {a.id: a for a in self._plan.actions}
        self._routine_total = len(self._plan.routine())

    async def _advise(self, inp: MaintenanceInput) -> None:
        """Optional LLM advice on the finished plan. It can only add explanations and proposals that
        the rules validate; whatever happens, the run goes on with the rule-based plan."""
        self._set_phase(Phase.PLANNING, "asking the LLM advisor for explanations (rules decide)")
        try:
            advice = await workflow.execute_activity_method(
                MaintenanceActivities.advise, AdviseInput(artifact_dir=self._artifact_dir, rules=inp.rules),
                start_to_close_timeout=ADVISE_TIMEOUT, retry_policy=RetryPolicy(maximum_attempts=2),
                summary="advisor: explanations and second opinion (optional)")
        except ActivityError as err:
            self._advisor_note = f"advisor unavailable ({cause_message(err)}); rule-based output only"
            return
        self._advisor_note = advice.note
        self._llm_ids = set(advice.added_ids)
        if advice.plan is not None:
            self._plan = advice.plan

    async def _decide(self, inp: MaintenanceInput) -> None:
        assert self._plan is not None
        self._auto_refused = auto_approval_refusal(inp.started_by, self._policy) if inp.auto_approve else None
        if self._auto_refused and inp.source_plan is not None:
            # The proactive agent's routine run: never wait on a person, never act against the policy.
            self._decision = Decision(kind=DecisionKind.REJECTED, by="approval policy", at=workflow.now(),
                                      comment=self._auto_refused)
            return
        if inp.auto_approve and not self._auto_refused:
            comment = "auto-approve requested at start"
            if self._llm_ids:  # an LLM proposal always needs a person's explicit decision
                self._approved_ids = [i for i in self._plan_ids if i not in self._llm_ids]
                comment += f"; {len(self._llm_ids)} LLM-proposed action(s) left for a human decision"
            self._decision = Decision(kind=DecisionKind.AUTO_APPROVED, by=inp.started_by, at=workflow.now(),
                                      action_ids=self._approved_ids or [], comment=comment,
                                      signed=self._proof_required)  # its starter's proof was checked
            return
        self._deadline = workflow.now() + timedelta(seconds=inp.approval_timeout_seconds)
        refused = f"auto-approve refused: {self._auto_refused}; " if self._auto_refused else ""
        self._set_phase(Phase.PENDING_APPROVAL, f"{refused}{self._plan.total} action(s) await approval until "
                                                f"{self._deadline.isoformat(timespec='minutes')}")
        if inp.source_plan is not None and inp.parent_workflow_id and workflow.patched(PAGERDUTY_PATCH):
            # In the background: a slow or dead PagerDuty never delays the approval it is about.
            self._proposal_page = asyncio.create_task(self._page(PageEvent.TRIGGER, "approval_needed"))
        try:
            await workflow.wait_condition(lambda: self._decision is not None,
                                          timeout=timedelta(seconds=inp.approval_timeout_seconds),
                                          timeout_summary="approval deadline")
        except TimeoutError:
            self._decision = Decision(kind=DecisionKind.EXPIRED, by="system", at=workflow.now(),
                                      comment=f"no decision within {inp.approval_timeout_seconds / 3600:g} h")

    async def _execute(self, inp: MaintenanceInput) -> None:
        assert self._plan is not None
        approved = self._approved_ids if self._approved_ids is not None else self._plan_ids
        self._to_execute = len(approved)
        self._set_phase(Phase.EXECUTING, f"executing {len(approved)} approved action(s)"
                                         + (" (dry run: simulated)" if inp.dry_run else ""))
        if len(self._plan_ids) <= INLINE_LIMIT and len(self._actions) == len(self._plan_ids):
            runner = ActionRunner(self._action_input, inp.max_failures, self._record,
                                  ledger_give_ups=self._ledger_key != self._wid and workflow.patched(GIVE_UP_PATCH))
            chosen = set(approved)
            await runner.run_sites([self._actions[i] for i in self._plan_ids if i in chosen])
            self._halted = runner.halted
        else:
            await self._execute_in_children(inp, set(approved))
        if not inp.dry_run:
            await run_step(MaintenanceActivities.compact_store, CompactInput(),
                             "write committed changes into the fleet files")

    def _action_input(self, action: PlannedAction) -> ExecuteActionInput:
        decision = self._decision
        assert decision is not None and self._as_of is not None
        return ExecuteActionInput(
            run_id=self._ledger_key, workflow_id=self._wid, artifact_dir=self._artifact_dir,
            report_dir=self._report_dir, action=action, as_of=self._as_of, actor=self._input.started_by,
            approved_by=decision.by, dry_run=self._input.dry_run, rules=self._input.rules,
            max_failures=self._input.max_failures,
        )

    def _record(self, result: ActionResult) -> None:
        self._counts.add(result.outcome)
        self._executed += 1
        if len(self._results) < INLINE_LIMIT:
            self._results.append(result)
        if self._executed % 25 == 0 or self._executed == self._to_execute:
            workflow.set_current_details(self._details(f"executed {self._executed}/{self._to_execute}"))

    async def _execute_in_children(self, inp: MaintenanceInput, approved: set[str]) -> None:
        """Large plans: one child per site (it continues-as-new in batches), sites in parallel."""
        assert self._plan is not None and self._decision is not None
        slots = asyncio.Semaphore(MAX_PARALLEL_SITES)
        handles: dict[str, workflow.ChildWorkflowHandle] = {}

        legacy = self._ledger_key == self._wid
        # The circuit breaker is fleet-wide: every action checks this run's failures in the ledger before
        # it starts (execute_action), so no child can run past it and no client can reset it.
        budget = inp.max_failures

        async def run_site(site: str, ids: list[str]) -> None:
            async with slots:
                if self._halted:
                    self._counts.add(Outcome.NOT_RUN, len(ids))
                    self._executed += len(ids)
                    return
                handle = await workflow.start_child_workflow(
                    SiteExecutionWorkflow.run,
                    SiteBatchInput(run_id=self._ledger_key, workflow_id=self._wid, artifact_dir=self._artifact_dir,
                                   report_dir=self._report_dir, site=site, action_ids=ids, as_of=self._as_of,
                                   actor=inp.started_by, approved_by=self._decision.by, dry_run=inp.dry_run,
                                   rules=inp.rules, parent_workflow_id=self._wid,
                                   max_failures=max(1, budget - self._site_failures) if legacy else budget),
                    id=f"{self._wid}/site-{site}",
                    static_summary=f"execute {len(ids)} action(s) at {site}",
                )
                handles[site] = handle
                result: SiteBatchResult = await handle
                handles.pop(site, None)
                self._counts.merge(result.counts)
                self._executed += sum(getattr(result.counts, o.value) for o in Outcome)
                self._halted = self._halted or (result.halted and not legacy)
                workflow.set_current_details(self._details(f"executed {self._executed_now()}/{self._to_execute}"))

        async def halt_on_failures() -> None:  # runs recorded before the ledger breaker: children reported by signal
            await workflow.wait_condition(lambda: self._site_failures >= budget)
            self._halted = True
            for handle in list(handles.values()):
                await handle.signal(SiteExecutionWorkflow.halt)

        async def read_progress() -> None:
            while True:
                await workflow.sleep(PROGRESS_INTERVAL, summary="progress")
                self._progress = await workflow.execute_local_activity_method(
                    MaintenanceActivities.run_progress,
                    RunProgressInput(run_id=self._ledger_key, report_dir=self._report_dir, dry_run=inp.dry_run),
                    start_to_close_timeout=timedelta(seconds=30), summary="progress from the ledger")
                workflow.set_current_details(self._details(f"executed {self._executed_now()}/{self._to_execute}"))

        watcher = asyncio.create_task(halt_on_failures() if legacy else read_progress())
        sites = {site: [i for i in ids if i in approved] for site, ids in self._plan.by_site_ids().items()}
        await asyncio.gather(*(run_site(site, ids) for site, ids in sites.items() if ids))
        watcher.cancel()

    def _executed_now(self) -> int:
        live = self._live()
        return max(self._executed, live.executed + live.not_run)

    def _live(self) -> OutcomeCounts:
        """Outcomes so far: finished site children, and the ledger's count of those still running."""
        live = self._counts.model_copy()
        for outcome in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.STALE):
            setattr(live, outcome.value, max(getattr(live, outcome.value), getattr(self._progress, outcome.value)))
        return live

    @workflow.signal
    def site_failed(self, count: int) -> None:
        """Runs recorded before the ledger-based circuit breaker: a site child's failures. Ignored by any
        run since (a client could send any number), which count failures in the ledger."""
        if self._ledger_key == self._wid and count > 0:
            self._site_failures += count

    async def _finish(self, phase: Phase) -> MaintenanceResult:
        inp = self._input
        self._set_phase(Phase.REPORTING, "writing report.md and report.json")
        try:
            self._report = await run_step(
                MaintenanceActivities.write_report,
                ReportInput(workflow_id=self._wid, run_id=self._ledger_key,
                            artifact_dir=self._artifact_dir, report_dir=self._report_dir,
                            started_by=inp.started_by, started_at=self._started_at, finished_at=workflow.now(),
                            phase=phase, dry_run=inp.dry_run, decision=self._decision,
                            approved_ids=self._approved_ids,
                            selected_ids=inp.source_plan.action_ids if inp.source_plan else None,
                            error=self._error, halted=self._halted, advisor_note=self._advisor_note),
                "report: what was found, decided and done",
            )
        except ActivityError as err:
            if phase is not Phase.FAILED:
                raise
            workflow.logger.error("could not write the failure report: %s", cause_message(err))
        self._set_phase(phase, self._report.summary if self._report else (self._error or phase.value))
        if inp.source_plan is not None and workflow.patched(PAGERDUTY_PATCH):
            # Before telling the agent: it expects the run to close right after that signal.
            if self._proposal_page is not None:
                await self._proposal_page  # the trigger first: a resolve must never overtake it
            if event := page_event(phase, self._counts, proposed=self._proposal_page is not None):
                await self._page(event, "run_finished", phase)
        if inp.parent_workflow_id:
            await self._tell_parent(inp.parent_workflow_id, phase)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return MaintenanceResult(
            workflow_id=self._wid, phase=phase, summary=self._report.summary if self._report else (self._error or ""),
            as_of=self._as_of, findings=self._detect.findings_total if self._detect else 0,
            findings_by_severity=self._detect.by_severity if self._detect else {},
            data_errors=self._detect.data_errors_total if self._detect else 0,
            warnings=self._detect.warnings if self._detect else [],
            problems=self._analysis.problems_total if self._analysis else 0, started_by=inp.started_by,
            started_at=self._started_at, dry_run=inp.dry_run,
            actions=self._plan.total if self._plan else 0, outcomes=self._counts, decision=self._decision,
            report=self._report, error=self._error, phases=self._phases,
        )

    async def _page(self, event: PageEvent, kind: str, phase: Phase | None = None) -> None:
        """One PagerDuty event about this run (keyed by its workflow id). Never fails the run."""
        inp, plan, parent = self._input, self._plan, workflow.info().parent
        page = PageInput(
            event_action=event, dedup_key=self._wid, kind=kind, workflow_id=self._wid,
            agent_workflow_id=inp.parent_workflow_id or (parent.workflow_id if parent else None),
            started_by=inp.started_by, cycle=inp.source_plan.cycle if inp.source_plan else None, phase=phase,
            actions=plan.total if plan else 0, high_risk=plan.by_risk.get(Risk.HIGH, 0) if plan else 0,
            by_site=top_counts(plan.by_site) if plan else {}, by_action=plan.by_action if plan else {},
            outcomes=self._counts if phase is not None else None, error=self._error,
            report_dir=self._report_dir if self._report else None)
        await send_page(page)

    async def _tell_parent(self, parent_id: str, phase: Phase) -> None:
        """Let the proactive agent that started this run know it is over (it stops tracking it)."""
        outcome = ChildOutcome(workflow_id=self._wid, phase=phase,
                               summary=self._report.summary if self._report else (self._error or phase.value))
        try:
            await workflow.get_external_workflow_handle(parent_id).signal(
                ProactiveMaintenanceWorkflow.child_finished, outcome)
        except Exception as err:  # noqa: BLE001 - the agent may have been stopped; this run is still done
            workflow.logger.warning("could not tell %s that %s finished: %s", parent_id, self._wid, err)


    def _set_phase(self, phase: Phase, note: str) -> None:
        self._phase = phase
        if self._phases[-1].phase is not phase:
            self._phases.append(PhaseMark(phase=phase, at=workflow.now()))
        workflow.set_current_details(self._details(note))
        self._publish()

    def _details(self, note: str) -> str:
        d = self._detect
        return run_details(self._phase, note, findings=d.findings_total if d else None,
                           by_severity=d.by_severity if d else None, devices=d.summary.devices if d else None,
                           actions=self._plan.total if self._plan else None, routine=self._routine_total,
                           decision=self._decision, counts=self._live() if self._executed_now() else None)

    # -- approval --------------------------------------------------------------------------------
    @workflow.update
    async def decide(self, request: ApprovalRequest) -> ApprovalResult:
        """Approve all or some planned actions, or reject the plan (recorded with who and when)."""
        assert self._plan is not None
        approver = request.approver.strip()
        signed = request.proof is not None and self._proof_required
        if request.proof is not None:
            self._nonces.add(request.proof.nonce)
        if not request.approve:
            self._decision = Decision(kind=DecisionKind.REJECTED, by=approver, at=workflow.now(), comment=request.comment,
                                      signed=signed)
            return ApprovalResult(decision=self._decision, approved=0, skipped=self._plan.total)
        if request.action_ids is None or set(request.action_ids) == self._pending_ids:
            self._decision = Decision(kind=DecisionKind.APPROVED, by=approver, at=workflow.now(), comment=request.comment,
                                      signed=signed)
            return ApprovalResult(decision=self._decision, approved=self._plan.total, skipped=0)
        chosen = set(request.action_ids)
        self._approved_ids = [i for i in self._plan_ids if i in chosen]
        self._decision = Decision(kind=DecisionKind.PARTIALLY_APPROVED, by=approver, at=workflow.now(),
                                  action_ids=self._approved_ids, comment=request.comment, signed=signed)
        return ApprovalResult(decision=self._decision, approved=len(self._approved_ids),
                              skipped=self._plan.total - len(self._approved_ids))

    @decide.validator
    def _validate_decision(self, request: ApprovalRequest) -> None:
        try:
            check_decision(request, phase=self._phase, decided=self._decision is not None,
                           pending_ids=self._pending_ids, approvers=self._policy.approvers,
                           started_by=self._input.started_by,
                           require_distinct_approver=self._policy.require_distinct_approver)
        except ApprovalRejected as exc:
            raise ApplicationError(str(exc), type="ApprovalRejected", non_retryable=True) from None
        if self._proof_required:
            approver = request.approver.strip()
            problem = identity.refusal(
                approver, identity.DECIDE,
                identity.decision_fields(self._wid, workflow.info().run_id, approver, request.approve,
                                         request.action_ids, request.comment),
                request.proof, self._policy.keys, now=workflow.now(), used_nonces=self._nonces)
            if problem:
                raise ApplicationError(f"decision refused: {problem}", type="ApprovalRejected", non_retryable=True)

    # -- queries ---------------------------------------------------------------------------------
    @workflow.query
    def status(self) -> RunStatus:
        pending: list[PendingAction] = []
        if self._phase is Phase.PENDING_APPROVAL and self._plan is not None:
            pending = [PendingAction(id=a.id, equipment_id=a.equipment_id, action=a.action.value, risk=a.risk,
                                     confidence=a.confidence, routine=a.routine)
                       for a in list(self._actions.values())[:INLINE_LIMIT]]
        return RunStatus(
            workflow_id=workflow.info().workflow_id, phase=self._phase, started_by=self._input.started_by,
            started_at=self._started_at, as_of=self._as_of, dry_run=self._input.dry_run,
            findings=self._detect.findings_total if self._detect else 0,
            findings_by_severity=self._detect.by_severity if self._detect else {},
            data_errors=self._detect.data_errors_total if self._detect else 0,
            warnings=self._detect.warnings if self._detect else [],
            problems=self._analysis.problems_total if self._analysis else 0,
            actions=self._plan.total if self._plan else 0,
            pending_actions=pending,
            pending_total=self._plan.total if self._plan and self._phase is Phase.PENDING_APPROVAL else 0,
            approval_deadline=self._deadline, decision=self._decision, outcomes=self._live(),
            executed=self._executed_now(), to_execute=self._to_execute, report=self._report, error=self._error,
            parent_workflow_id=self._input.parent_workflow_id, phases=self._phases,
            auto_approve_refused=self._auto_refused,
        )

    @workflow.query
    def findings(self) -> FindingsView:
        if self._detect is None:
            return FindingsView(total=0, findings=[])
        return FindingsView(total=self._detect.findings_total, findings=self._detect.findings,
                            truncated=self._detect.findings_total > len(self._detect.findings),
                            artifact=f"{self._artifact_dir}/detection.json")

    @workflow.query
    def plan(self) -> PlanView:
        if self._plan is None:
            return PlanView(total=0, actions=[])
        if self._decision is None:
            default, approval = "pending", {}
        elif self._decision.kind in (DecisionKind.REJECTED, DecisionKind.EXPIRED):
            default, approval = "not_approved", {}
        elif self._approved_ids is None:
            default, approval = "approved", {}
        else:
            default, approval = "not_approved", {i: "approved" for i in self._approved_ids}
        actions = list(self._actions.values())
        return PlanView(total=self._plan.total, actions=actions, approval=approval, default_approval=default,
                        truncated=self._plan.total > len(actions), artifact=f"{self._artifact_dir}/plan.json",
                        decision=self._decision)

    @workflow.query
    def results(self) -> ResultsView:
        return ResultsView(total=self._executed, results=self._results, outcomes=self._counts,
                           truncated=self._executed > len(self._results))

    @workflow.query
    def report(self) -> ReportRef | None:
        return self._report

    @workflow.query
    def grant(self, request: GrantRequest) -> str | None:
        """Why this run does not authorize a site child to execute `request` now, or None if it does
        (a site child asks before it runs anything: a client could start one with any input)."""
        decision = self._decision
        if self._phase is not Phase.EXECUTING:
            return f"the run is {self._phase.value}, not executing"
        if decision is None or decision.kind not in (DecisionKind.APPROVED, DecisionKind.PARTIALLY_APPROVED,
                                                     DecisionKind.AUTO_APPROVED):
            return "the run has no approved plan"
        if (request.run_id, request.artifact_dir, request.approved_by, request.dry_run) != (
                self._ledger_key, self._artifact_dir, decision.by, self._input.dry_run):
            return "the batch is not this run's (ledger, plan, approver or dry run differ)"
        approved = set(self._approved_ids) if self._approved_ids is not None else set(self._plan_ids)
        extra = [i for i in request.action_ids if i not in approved]
        return f"action(s) {', '.join(extra[:5])} were not approved" if extra else None


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
            counts.add(Outcome.NOT_RUN, len(inp.action_ids) - inp.cursor)
            await workflow.wait_condition(workflow.all_handlers_finished)
            return SiteBatchResult(site=inp.site, counts=counts, halted=True)
        actions = await workflow.execute_activity_method(
            MaintenanceActivities.load_actions, LoadActionsInput(artifact_dir=inp.artifact_dir, action_ids=batch),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=STEP_RETRY,
            summary=f"load actions {inp.cursor + 1}-{inp.cursor + len(batch)} of {len(inp.action_ids)} for {inp.site}",
        )
        await runner.run_site(actions)
        if legacy and runner.failures:
            await parent.signal(InfrastructureMaintenanceWorkflow.site_failed, runner.failures)
        cursor = inp.cursor + len(batch)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if cursor < len(inp.action_ids):
            # One batch per run keeps each run's history (and a replay after a worker restart) small.
            workflow.continue_as_new(inp.model_copy(update={
                "cursor": cursor, "counts": counts, "halted": runner.halted or self._halt,
                "max_failures": max(1, inp.max_failures - runner.failures) if legacy else inp.max_failures}))
        return SiteBatchResult(site=inp.site, counts=counts, halted=runner.halted)

    @staticmethod
    async def _ask_parent(inp: SiteBatchInput) -> None:
        """Run nothing unless the server-given parent is a maintenance run on this task queue that
        approved exactly this batch: otherwise any client could start a site child with a plan of
        its choosing and no approval."""
        parent = workflow.info().parent
        request = GrantRequest(run_id=inp.run_id, artifact_dir=inp.artifact_dir, action_ids=inp.action_ids,
                               approved_by=inp.approved_by, dry_run=inp.dry_run)
        refusal = "it was not started by a maintenance run" if parent is None else await run_step(
            MaintenanceActivities.check_site_grant,
            GrantCheckInput(parent_workflow_id=parent.workflow_id, parent_run_id=parent.run_id, request=request),
            "does the parent run approve this batch?")
        if refusal:
            raise ApplicationError(f"refusing to execute {len(inp.action_ids)} action(s) at {inp.site}: {refusal}",
                                   type="NotAuthorized", non_retryable=True)

    @workflow.signal
    def halt(self) -> None:
        """Runs recorded before the ledger-based circuit breaker: the parent's breaker tripped. Ignored
        since: the breaker is in the ledger, and no client can stop or start a child's work by signal."""
        self._halt = True
        if self._runner is not None and self._legacy:
            self._runner.halted = True


NOTIFY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=15), maximum_attempts=4,
                           non_retryable_error_types=["WebhookRejected"])
NOTIFY_BUDGET = timedelta(seconds=60)
"""All attempts at one notification together; a dead webhook costs a cycle at most this long."""
PAGE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=15), maximum_attempts=4,
                         non_retryable_error_types=["PagerDutyRejected"])


async def send_page(page: PageInput) -> None:
    """Send a PagerDuty event within the notification budget; a dead endpoint is logged, never raised."""
    try:
        result = await workflow.execute_activity_method(
            MaintenanceActivities.page, page, schedule_to_close_timeout=NOTIFY_BUDGET,
            start_to_close_timeout=timedelta(seconds=15), retry_policy=PAGE_RETRY,
            summary=f"PagerDuty: {page.event_action.value} ({page.kind})")
    except ActivityError as err:
        workflow.logger.warning("PagerDuty %s for %s not sent: %s", page.event_action.value, page.dedup_key,
                                cause_message(err))
        return
    if result.delivered:
        workflow.logger.info("PagerDuty %s for %s sent", page.event_action.value, page.dedup_key)


@workflow.defn
class ProactiveMaintenanceWorkflow:
    """Watches the fleet forever: a DAPER cycle every interval, routine repairs on its own, everything
    else proposed for approval in a separate run so a pending question never blocks monitoring."""

    @workflow.init
    def __init__(self, inp: ProactiveInput) -> None:
        self._input = inp
        self._wid = workflow.info().workflow_id
        self._phase = ProactivePhase.INITIALIZING
        self._cycle = inp.cycle
        self._interval = inp.interval_seconds
        self._paused = inp.paused
        self._stop = False
        self._trigger = inp.trigger_pending
        self._wake = False
        self._open: dict[str, OpenApproval] = {o.workflow_id: o for o in inp.open_approvals}
        self._finished: dict[str, ChildOutcome] = {}
        self._last: CycleSummary | None = inp.last_cycle
        self._next_at: datetime | None = None
        self._last_end: datetime | None = None
        self._starter_verified = False
        self._confirm_finished = False
        self._recheck_open = False
        self._failure_paged = inp.cycle_failure_paged

    @workflow.run
    async def run(self, inp: ProactiveInput) -> CycleSummary | None:
        refuse_unsafe_names(self._wid, inp.started_by)
        self._confirm_finished = workflow.patched(CONFIRM_FINISHED_PATCH)
        if workflow.patched(AGENT_PROOF_PATCH):
            await self._prove_starter(inp)
        if inp.cycle == 0 and not inp.open_approvals:
            # A previous incarnation of this agent may have left approvals open: do not repeat them.
            for found in await workflow.execute_activity_method(
                    MaintenanceActivities.list_open_approvals, OpenChildrenInput(prefix=f"{self._wid}-cycle-"),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=STEP_RETRY,
                    summary="find approvals left open by an earlier agent"):
                self._open.setdefault(found.workflow_id, found)
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
            self._trigger = False
            await self._run_cycle()
            cycles_this_run += 1
            if self._should_continue_as_new(cycles_this_run) and not self._stop:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())
        self._next_at = None
        self._set_phase(ProactivePhase.STOPPED, f"stopped after cycle {self._cycle}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._last

    async def _continue_numbering(self) -> None:
        """A new incarnation (a start, not a continue-as-new) goes on from the last cycle an earlier one
        left a folder for: two different "cycle 1" messages from one agent would be ambiguous."""
        if workflow.patched(CYCLE_NUMBERS_PATCH):
            try:
                self._cycle = await workflow.execute_activity_method(
                    MaintenanceActivities.last_cycle, LastCycleInput(agent_workflow_id=self._wid),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=STEP_RETRY,
                    summary="the last cycle number of earlier incarnations")
            except ActivityError as err:  # numbering from 1 again is better than no monitoring
                workflow.logger.warning("cycles are numbered from 1: %s", cause_message(err))
        if workflow.patched(AGENT_PAGES_PATCH):
            # An earlier incarnation may have left its failed-cycles incident open: a clean cycle resolves it.
            self._failure_paged = True

    async def _prove_starter(self, inp: ProactiveInput) -> None:
        """Where the worker requires proof, the agent acts for its starter only if they signed its start
        (checked by the first run; a continued run is made by the agent itself, so it keeps the result)."""
        if inp.starter_verified and workflow.info().continued_run_id is not None:
            self._starter_verified = True
            return
        policy = await worker_policy(inp)
        if not policy.require_proof:
            return
        try:
            await prove_starter(inp, self._wid, policy, identity.START_AGENT)
        except NotProven as exc:
            raise ApplicationError(str(exc).replace("refusing to run", "refusing to act"), type="NotProven",
                                   non_retryable=True) from None
        self._starter_verified = True

    # -- timing ---------------------------------------------------------------------------------
    async def _wait_for_next_cycle(self) -> None:
        while True:
            if self._stop or self._trigger:
                return
            if self._paused:
                self._next_at = None
                self._set_phase(ProactivePhase.PAUSED, "paused: resume, trigger a cycle or stop")
                await workflow.wait_condition(lambda: not self._paused or self._stop or self._trigger)
                continue
            base = self._last_end or workflow.now()
            self._next_at = base + timedelta(seconds=self._interval)
            remaining = (self._next_at - workflow.now()).total_seconds()
            if remaining <= 0:
                return
            self._set_phase(ProactivePhase.WAITING, f"next cycle at {self._next_at.isoformat(timespec='seconds')}")
            self._wake = False
            try:
                await workflow.wait_condition(
                    lambda: self._wake or self._stop or self._trigger or self._paused or self._recheck_open,
                    timeout=timedelta(seconds=remaining), timeout_summary="next cycle")
            except TimeoutError:
                return
            if self._recheck_open:
                self._recheck_open = False
                await self._forget_closed_approvals()

    def _should_continue_as_new(self, cycles_this_run: int) -> bool:
        limit = self._input.continue_as_new_after_cycles
        return (limit is not None and cycles_this_run >= limit) or workflow.info().is_continue_as_new_suggested()

    def _carry_over(self) -> ProactiveInput:
        return self._input.model_copy(update={
            "cycle": self._cycle, "open_approvals": list(self._open.values()), "last_cycle": self._last,
            "paused": self._paused, "interval_seconds": self._interval, "trigger_pending": self._trigger,
            "continue_as_new_count": self._input.continue_as_new_count + 1, "starter_verified": self._starter_verified,
            "cycle_failure_paged": self._failure_paged,
        })

    # -- one cycle -------------------------------------------------------------------------------
    async def _run_cycle(self) -> None:
        inp = self._input
        self._cycle += 1
        n = self._cycle
        started = workflow.now()
        # Each incarnation of the agent (a start, not a continue-as-new) counts its cycles from 1: its own
        # folder keeps it from overwriting the plans that earlier incarnations' approval runs still use.
        cycle_dir = (f"{self._wid}/{workflow.info().first_execution_run_id}/cycle-{n:05d}"
                     if workflow.patched(CYCLE_DIR_PATCH) else f"{self._wid}/cycle-{n:05d}")
        summary = CycleSummary(cycle=n, started_at=started, finished_at=started, artifact_dir=cycle_dir)
        try:
            self._set_phase(ProactivePhase.MONITORING, f"cycle {n}: detecting")
            detect = await run_step(MaintenanceActivities.detect_fleet,
                                      DetectInput(run_id=f"{self._wid}/cycle-{n}", artifact_dir=cycle_dir,
                                                  rules=inp.rules),
                                      f"cycle {n}: detect")
            summary.as_of, summary.findings = detect.as_of, detect.findings_total
            summary.findings_by_severity = detect.by_severity
            self._set_phase(ProactivePhase.ANALYZING, f"cycle {n}: {detect.findings_total} finding(s)")
            await run_step(MaintenanceActivities.analyze_findings, AnalyzeInput(artifact_dir=cycle_dir),
                             f"cycle {n}: analyze")
            self._set_phase(ProactivePhase.PLANNING, f"cycle {n}: planning")
            await self._forget_closed_approvals()
            plan = await run_step(MaintenanceActivities.plan_maintenance,
                                    PlanInput(artifact_dir=cycle_dir, as_of=detect.as_of, rules=inp.rules,
                                              exclude_plans=[o.artifact_dir for o in self._open.values()
                                                             if not o.includes_routine],
                                              exclude_plans_entirely=[o.artifact_dir for o in self._open.values()
                                                                      if o.includes_routine]),
                                    f"cycle {n}: plan (skipping {len(self._open)} open approval run(s))")
            summary.planned, summary.excluded_pending = plan.total, plan.excluded
            all_routine = plan.routine()
            routine = all_routine if inp.auto_execute_routine else []
            if routine:
                summary.routine_held = auto_approval_refusal(inp.started_by, await worker_policy(inp))
                if summary.routine_held:  # routine work is pre-approved by its starter: only if they may approve
                    routine = []
            chosen = set(routine)
            others = [i for i in plan.ids() if i not in chosen]
            if routine:
                self._set_phase(ProactivePhase.EXECUTING, f"cycle {n}: {len(routine)} routine action(s)")
                result = await self._start_run(n, "routine", cycle_dir, routine, detect.as_of, auto_approve=True,
                                               details=self._cycle_details(n, "routine", routine, plan))
                summary.routine_run, summary.routine_executed = result.workflow_id, len(routine)
                summary.routine_outcomes = result.outcomes
            if others:
                summary.approval_run = await self._propose(n, cycle_dir, others, detect.as_of,
                                                           includes_routine=len(routine) < len(all_routine),
                                                           details=self._cycle_details(n, "approval", others, plan))
                summary.proposed_for_approval = len(others)
            await self._maybe_notify(summary)
            if self._failure_paged and workflow.patched(AGENT_PAGES_PATCH):
                await self._page_cycle(PageEvent.RESOLVE, n)
                self._failure_paged = False
        except (ActivityError, ChildWorkflowError) as err:
            summary.error = cause_message(err)
            workflow.logger.error("cycle %d failed: %s", n, summary.error)
            await self._notify(summary, NotifyInput(kind="cycle_failed", agent_workflow_id=self._wid, cycle=n,
                                                    url=inp.callback_url, workflow_ids=[self._wid],
                                                    started_by=inp.started_by, cycle_dir=cycle_dir,
                                                    as_of=summary.as_of, findings=summary.findings,
                                                    findings_by_severity=summary.findings_by_severity,
                                                    error=summary.error))
            if workflow.patched(AGENT_PAGES_PATCH):
                self._failure_paged = True
                await self._page_cycle(PageEvent.TRIGGER, n, summary.error)
        summary.finished_at = self._last_end = workflow.now()
        summary.summary = _cycle_line(summary)
        self._last = summary

    def _cycle_details(self, n: int, kind: str, ids: list[str], plan: PlanResult) -> str:
        """The static details of a run this cycle starts: what, for whom, on how many devices where."""
        chosen = set(ids)
        sites = sorted(site for site, site_ids in plan.by_site_ids().items() if chosen.intersection(site_ids))
        devices = len({a.equipment_id for a in plan.actions if a.id in chosen}) if plan.actions else None
        return cycle_run_details(self._wid, n, kind, self._input.started_by, len(ids), devices, sites,
                                 self._input.approval_timeout_seconds / 3600)

    async def _start_run(self, n: int, kind: str, cycle_dir: str, ids: list[str], as_of: datetime, *,
                         auto_approve: bool, details: str | None = None) -> MaintenanceResult:
        inp = self._input
        return await workflow.execute_child_workflow(
            InfrastructureMaintenanceWorkflow.run, self._run_input(cycle_dir, ids, as_of, n, auto_approve),
            id=f"{self._wid}-cycle-{n}-{kind}-{str(workflow.uuid4())[:8]}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=f"cycle {n}: {len(ids)} {kind} action(s) for {inp.started_by}", static_details=details,
            memo={"cycle": n, "artifact_dir": cycle_dir, "actions": len(ids), "kind": kind, "by": inp.started_by},
        )

    def _run_input(self, cycle_dir: str, ids: list[str], as_of: datetime, n: int, auto_approve: bool) -> MaintenanceInput:
        inp = self._input
        return MaintenanceInput(
            started_by=inp.started_by, auto_approve=auto_approve,
            approval_timeout_seconds=inp.approval_timeout_seconds, approvers=inp.approvers,
            require_distinct_approver=inp.require_distinct_approver, max_failures=inp.max_failures,
            rules=inp.rules, advisor=inp.advisor,
            source_plan=PlanRef(artifact_dir=cycle_dir, action_ids=ids, as_of=as_of, cycle=n),
            parent_workflow_id=None if auto_approve else self._wid,
        )

    async def _forget_closed_approvals(self) -> None:
        """Drop open approval runs that ended without telling us (terminated, cancelled)."""
        if not self._open or not workflow.patched(FORGET_CLOSED_APPROVALS_PATCH):
            return
        running = set(await workflow.execute_activity_method(
            MaintenanceActivities.still_open,
            StillOpenInput(workflow_ids=sorted(self._open), said_finished=sorted(set(self._open) & set(self._finished))),
            start_to_close_timeout=timedelta(seconds=60), retry_policy=STEP_RETRY,
            summary=f"which of {len(self._open)} approval run(s) are still open"))
        for workflow_id in [w for w in self._open if w not in running]:
            del self._open[workflow_id]
        for workflow_id in running:  # said it was over but is still running: not believed (nor waited on) again
            self._finished.pop(workflow_id, None)

    async def _propose(self, n: int, cycle_dir: str, ids: list[str], as_of: datetime, *, includes_routine: bool,
                       details: str | None = None) -> str:
        """Start the approval run and let it wait on its own: the next cycles keep going."""
        handle = await workflow.start_child_workflow(
            InfrastructureMaintenanceWorkflow.run, self._run_input(cycle_dir, ids, as_of, n, False),
            id=f"{self._wid}-cycle-{n}-approval-{str(workflow.uuid4())[:8]}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=f"cycle {n}: {len(ids)} action(s) for {self._input.started_by} awaiting approval",
            static_details=details,
            memo={"cycle": n, "artifact_dir": cycle_dir, "actions": len(ids), "kind": "approval",
                  "by": self._input.started_by, "includes_routine": includes_routine},
        )
        if handle.id not in self._finished or self._confirm_finished:  # it may have finished (and said so) already
            self._open[handle.id] = OpenApproval(workflow_id=handle.id, cycle=n, artifact_dir=cycle_dir,
                                                 actions=len(ids), started_at=workflow.now(),
                                                 includes_routine=includes_routine)
            self._recheck_open = self._recheck_open or handle.id in self._finished
        return handle.id

    async def _maybe_notify(self, summary: CycleSummary) -> None:
        c = summary.routine_outcomes
        problems = c.failed + c.rolled_back
        if not summary.approval_run and not problems:
            return
        inp = self._input
        held = bool(summary.routine_held) or not inp.auto_execute_routine
        # The actions the message is about (read from the cycle's plan by the worker): those awaiting
        # approval (the routine ones too when they were held), else the routine ones that ran.
        if summary.approval_run:
            selection = ActionSelection.ALL if held else ActionSelection.NON_ROUTINE
        else:
            selection = ActionSelection.ROUTINE
        await self._notify(summary, NotifyInput(
            kind="approval_needed" if summary.approval_run else "routine_problems", url=inp.callback_url,
            agent_workflow_id=self._wid, cycle=summary.cycle, started_by=inp.started_by,
            cycle_dir=summary.artifact_dir, selection=selection, as_of=summary.as_of, findings=summary.findings,
            findings_by_severity=summary.findings_by_severity, planned=summary.planned,
            excluded_pending=summary.excluded_pending, routine_run=summary.routine_run,
            routine_outcomes=c if summary.routine_run else None, proposed=summary.proposed_for_approval,
            workflow_ids=[w for w in (self._wid, summary.routine_run, summary.approval_run) if w],
            approve_workflow_id=summary.approval_run))

    async def _page_cycle(self, event: PageEvent, n: int, error: str | None = None) -> None:
        """The agent's own incident: cycles failing (one per agent, resolved by the next clean cycle)."""
        await send_page(PageInput(event_action=event, dedup_key=cycle_failure_key(self._wid), kind="cycle_failed",
                                  workflow_id=self._wid, agent_workflow_id=self._wid,
                                  started_by=self._input.started_by, cycle=n, error=error))

    async def _notify(self, summary: CycleSummary, message: NotifyInput) -> None:
        self._set_phase(ProactivePhase.NOTIFYING, f"cycle {summary.cycle}: sending the notification")
        message.timeout_seconds = self._input.notify_timeout_seconds
        try:
            result = await workflow.execute_activity_method(
                MaintenanceActivities.notify, message, schedule_to_close_timeout=NOTIFY_BUDGET,
                start_to_close_timeout=timedelta(seconds=15), retry_policy=NOTIFY_RETRY,
                summary=f"notify: {message.kind}")
            summary.notified = result.delivered
        except ActivityError as err:  # a dead webhook never fails the agent
            summary.notification_error = cause_message(err)


    def _set_phase(self, phase: ProactivePhase, note: str) -> None:
        self._phase = phase
        lines = [f"**{phase.value}** — {note}", f"cycles: {self._cycle}; every {self._interval / 60:g} min; "
                 f"routine auto-execution {'on' if self._input.auto_execute_routine else 'off'}"]
        if self._open:
            lines.append(f"open approvals: {', '.join(sorted(self._open))}")
        if self._last:
            lines.append(f"last cycle: {self._last.summary}")
        workflow.set_current_details("\n\n".join(lines))

    # -- signals, updates, queries ---------------------------------------------------------------
    @workflow.signal
    def trigger_now(self) -> None:
        """Run a cycle now (even when paused)."""
        self._trigger = True

    @workflow.signal
    def pause(self) -> None:
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False

    @workflow.signal
    def stop(self) -> None:
        """Finish the current cycle, then complete. Open approval runs keep running on their own."""
        self._stop = True

    @workflow.update
    def set_interval(self, request: SetIntervalRequest) -> ProactiveStatus:
        self._interval = request.minutes * 60
        self._wake = True
        return self.status()

    @set_interval.validator
    def _validate_interval(self, request: SetIntervalRequest) -> None:
        if not MIN_INTERVAL_MINUTES <= request.minutes <= MAX_INTERVAL_MINUTES:
            raise ApplicationError(f"interval must be between one second ({MIN_INTERVAL_MINUTES:.4f}) and "
                                   f"{MAX_INTERVAL_MINUTES} minutes (one week)",
                                   type="InvalidInterval", non_retryable=True)
        if self._stop:
            raise ApplicationError("the agent is stopping; start it again to change its interval",
                                   type="AgentStopping", non_retryable=True)

    @workflow.signal
    def child_finished(self, outcome: ChildOutcome) -> None:
        """An approval run this agent started says it is over (decided, expired or failed). Any client
        can send this, so it is taken as a hint: the agent asks the server before it forgets the run
        (else a forged signal would make it propose the run's actions again)."""
        self._finished[outcome.workflow_id] = outcome
        if self._confirm_finished:
            self._recheck_open = True
        else:  # histories recorded before: the run was forgotten at once
            self._open.pop(outcome.workflow_id, None)

    @workflow.query
    def status(self) -> ProactiveStatus:
        return ProactiveStatus(
            workflow_id=self._wid, phase=self._phase, started_by=self._input.started_by, cycle=self._cycle,
            interval_seconds=self._interval, auto_execute_routine=self._input.auto_execute_routine,
            paused=self._paused, stop_requested=self._stop, next_cycle_at=self._next_at, last_cycle=self._last,
            open_approvals=sorted(self._open.values(), key=lambda o: o.workflow_id),
            run_id=workflow.info().run_id, continued_as_new=self._input.continue_as_new_count,
            starter_verified=self._starter_verified,
        )


def _cycle_line(s: CycleSummary) -> str:
    if s.error:
        return f"cycle {s.cycle}: FAILED: {s.error}"
    c = s.routine_outcomes
    line = f"cycle {s.cycle}: {s.findings} finding(s), {s.planned} new action(s)"
    if s.excluded_pending:
        line += f" ({s.excluded_pending} already awaiting approval)"
    if s.routine_run:
        line += f"; routine: {c.succeeded} succeeded, {c.failed} failed, {c.rolled_back} rolled back, {c.stale} stale"
    if s.approval_run:
        line += f"; {s.proposed_for_approval} proposed for approval"
    if s.routine_held:
        line += f" (routine actions held for approval: {s.routine_held})"
    if s.notification_error:
        line += f"; notification failed ({s.notification_error})"
    return line
