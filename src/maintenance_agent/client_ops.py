"""Typed operations on the agent's workflows: used by the CLI scripts and the MCP server alike.

Every failure a user can cause or meet (unknown id, refused approval, server gone) is raised as
`OperationError` with one actionable sentence; nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as TemporalTimeout
from temporalio.service import RPCError, RPCStatusCode

from . import artifacts
from .artifact_reader import ArtifactReaderWorkflow
from .config import Settings
from .connection import TRANSIENT_RPC
from .core import identity
from .core.approval import auto_approval_refusal
from .core.detect import analysis_time, detect
from .core.listing import card_from_result, card_from_status, listed_outcome, start_details, start_summary
from .core.report import Report
from .core.rules import load_rules
from .identity import KeyFileError, Signer
from .models.core import Finding, HealthState, Severity
from .models.listing import MEMO_KEY, RunCard, RunSummary
from .models.mcp import MAX_ITEMS, DeviceIssue, FleetHealthOut
from .models.workflow import (
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalResult,
    ArtifactPage,
    FindingsView,
    MaintenanceInput,
    MaintenanceResult,
    Phase,
    PlanView,
    ProactiveInput,
    ProactiveStatus,
    ReadArtifactInput,
    ResultsView,
    RunOptions,
    RunStatus,
    SetIntervalRequest,
)
from .store import FleetStore
from .workflows import InfrastructureMaintenanceWorkflow, ProactiveMaintenanceWorkflow

RUN_WORKFLOW = "InfrastructureMaintenanceWorkflow"
M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)


class OperationError(Exception):
    """A request could not be carried out. The message says what and why, for any interface; what to do
    next is a hint per interface (`cli`: a script to run, `mcp`: a tool to call), rendered by each."""

    def __init__(self, message: str, *, cli: str | None = None, mcp: str | None = None) -> None:
        super().__init__(message)
        self.cli_hint, self.mcp_hint = cli, mcp

    def for_cli(self) -> str:
        return f"{self}; {self.cli_hint}" if self.cli_hint else str(self)

    def for_mcp(self) -> str:
        return f"{self}; {self.mcp_hint}" if self.mcp_hint else str(self)


class RunNotFound(OperationError):
    pass


class Busy(OperationError):
    """The run exists but could not answer right now (worker busy or restarting, server overloaded);
    asking again shortly is safe."""


FOLLOW_PATIENCE_SECONDS = 120.0
"""How long `follow` keeps asking a busy run before giving up."""


LIST_FALLBACK_CONCURRENCY = 8
LIST_FALLBACK_SECONDS = 5.0
"""A run that published no card (recorded before cards) is asked for its outcome, this many at a
time and for at most this long each; one that does not answer in time is listed as UNKNOWN."""


def run_workflow_id(user: str) -> str:
    return f"infra-monitoring-agent-for-{user}-{uuid.uuid4()}"


def approval_policy(settings: Settings) -> ApprovalPolicy:
    """`APPROVERS` and `REQUIRE_DISTINCT_APPROVER` from these settings (a worker enforces its own)."""
    return ApprovalPolicy(approvers=list(settings.approvers), require_distinct_approver=settings.require_distinct_approver)


def auto_approve_refusal(settings: Settings) -> str | None:
    """Why this user may not auto-approve under these settings' policy, or None (checked again by the run
    against its worker's policy: this is only to say so before anything starts)."""
    return auto_approval_refusal(settings.user_name, approval_policy(settings))


def _start_options(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    """Paths, approval policy, approval timeout and circuit breaker from settings; `options` override."""
    return {"started_by": settings.user_name, **approval_policy(settings).model_dump(),
            "approval_timeout_seconds": settings.approval_timeout_hours * 3600,
            "max_failures": settings.max_failures, **options}


def signer(settings: Settings) -> Signer | None:
    """USER_NAME's signer when APPROVER_KEY_FILE is set (what proves who starts and decides)."""
    if settings.approver_key_file is None:
        return None
    try:
        return Signer.from_file(settings.user_name, settings.approver_key_file)
    except KeyFileError as exc:
        raise OperationError(str(exc)) from None


def run_input(settings: Settings, **options: Any) -> MaintenanceInput:
    """The start input of a run, from settings and per-run options (`RunOptions`: a misspelt one is an
    error, not a silently different run)."""
    try:
        chosen = RunOptions(**options)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            raise OperationError(f"unknown run option {name!r}; the options are "
                                 f"{', '.join(RunOptions.model_fields)}") from None
        raise OperationError(f"run option {name}: {first['msg']}") from None
    given = {name: getattr(chosen, name) for name in chosen.model_fields_set if getattr(chosen, name) is not None}
    given.setdefault("advisor", settings.llm_enabled)
    return MaintenanceInput(**_start_options(settings, given))


async def start_run(client: Client, settings: Settings, **options: Any) -> str:
    """Start a maintenance run; returns its workflow id immediately. Signed with APPROVER_KEY_FILE, if set."""
    inp = run_input(settings, **options)
    workflow_id = run_workflow_id(settings.user_name)
    if (me := signer(settings)) is not None:
        inp.start_proof = me.prove(identity.START, identity.start_fields(workflow_id, inp))
    try:
        # A run's id names its report folder and its ledger entries: never reuse one.
        await client.start_workflow(
            InfrastructureMaintenanceWorkflow.run, inp, id=workflow_id, task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=start_summary(settings.user_name, dry_run=inp.dry_run, auto_approve=inp.auto_approve),
            static_details=start_details(settings.user_name, dry_run=inp.dry_run, auto_approve=inp.auto_approve,
                                         approval_hours=inp.approval_timeout_seconds / 3600),
        )
    except RPCError as exc:
        raise OperationError(f"could not start the run: {exc.message}") from None
    return workflow_id


def _handle(client: Client, workflow_id: str) -> WorkflowHandle:
    return client.get_workflow_handle_for(InfrastructureMaintenanceWorkflow.run, workflow_id)


async def _guard(workflow_id: str, call: Awaitable[Any]) -> Any:
    try:
        return await call
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and "already completed" in exc.message:
            raise OperationError(
                f"run {workflow_id} has already finished; decisions are accepted only while it is PENDING-APPROVAL"
            ) from None
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise RunNotFound(f"no maintenance run with id {workflow_id!r}",
                              cli="list recent runs with `query_monitoring_agent.py --list`",
                              mcp="list recent runs with list_maintenance_runs") from None
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise OperationError(f"{workflow_id!r} is not a maintenance run or the request was invalid: {exc.message}") from None
        if exc.status in TRANSIENT_RPC or "Workflow Task in failed state" in exc.message:
            # The run's current workflow task failed or timed out (an overloaded worker); Temporal
            # retries it, and the same request succeeds once it has.
            raise Busy(f"Temporal did not answer in time for {workflow_id} ({exc.message}); try again shortly") from None
        raise OperationError(f"Temporal refused the request: {exc.message}") from None
    except WorkflowQueryFailedError as exc:
        if "TMPRL1101" in str(exc) or "deadlock" in str(exc).lower():
            # The worker answered too slowly (busy with heavy activities); the run itself is fine.
            raise Busy(f"the worker was too busy to answer for {workflow_id}; try again shortly") from None
        raise OperationError(f"{workflow_id!r} cannot answer that query ({exc}); is it a maintenance run?") from None
    except WorkflowQueryRejectedError as exc:
        raise OperationError(f"{workflow_id!r} cannot answer that query ({exc}); is it a maintenance run?") from None
    except WorkflowUpdateFailedError as exc:
        raise OperationError(_failure_text(exc)) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Busy(f"{workflow_id} did not confirm the decision in time; try again shortly") from None
    except KeyError as exc:
        if "payload encoding" not in str(exc):
            raise
        raise OperationError(f"{workflow_id}'s data are encrypted (TEMPORAL_PAYLOAD_KEY) and this client has no key; "
                             f"set the same TEMPORAL_PAYLOAD_KEY as the worker's") from None
    except ValueError as exc:
        if "TEMPORAL_PAYLOAD_KEY" not in str(exc) and "failed authentication" not in str(exc):
            raise
        raise OperationError(f"{workflow_id}'s data cannot be read: {exc}") from None


def _failure_text(exc: BaseException) -> str:
    while isinstance(exc, (FailureError, WorkflowUpdateFailedError, WorkflowFailureError)) and exc.cause is not None:
        exc = exc.cause
    return exc.message if isinstance(exc, ApplicationError) else str(exc)


async def _run_handle(client: Client, workflow_id: str) -> tuple[WorkflowHandle, WorkflowExecutionDescription]:
    """The run's handle and description; the id of any other workflow is refused, saying what to use instead."""
    handle = _handle(client, workflow_id)
    desc = await _guard(workflow_id, handle.describe())
    if desc.workflow_type == ProactiveMaintenanceWorkflow.__name__:
        message, open_runs = await _agent_is_not_a_run(client, workflow_id, desc)
        cli = (f"approve one with `approve_monitoring_agent.py --workflow-id {open_runs[0]}`" if open_runs else
               "`run_monitoring_agent_proactive.py --status` shows the agent and its approval runs")
        mcp = (f"pass one of those ids (e.g. approve_maintenance_actions with workflow_id {open_runs[0]!r})" if open_runs
               else "initiate_proactive_maintenance or trigger_proactive_cycle show the agent and its approval runs")
        raise OperationError(message, cli=cli, mcp=mcp)
    if desc.workflow_type != RUN_WORKFLOW:
        raise OperationError(f"{workflow_id!r} is a {desc.workflow_type} workflow, not a maintenance run",
                             cli="list maintenance runs with `query_monitoring_agent.py --list`",
                             mcp="list maintenance runs with list_maintenance_runs")
    return handle, desc


async def _agent_is_not_a_run(client: Client, workflow_id: str,
                              desc: WorkflowExecutionDescription) -> tuple[str, list[str]]:
    """What to say when the proactive agent's id is used for a run, and its open approval runs: its
    proposals wait in approval runs of their own (from the agent's query, else from visibility)."""
    head = (f"{workflow_id!r} is the proactive agent, not a maintenance run: its proposals wait for approval "
            f"in approval runs of their own")
    open_runs: list[str] = []
    if desc.status == WorkflowExecutionStatus.RUNNING:
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            status: ProactiveStatus = await client.get_workflow_handle(workflow_id).query(
                ProactiveMaintenanceWorkflow.status)
            open_runs = sorted(o.workflow_id for o in status.open_approvals)
    if not open_runs:  # a stopped agent's approval runs keep waiting: visibility still knows them
        query = f"WorkflowId STARTS_WITH '{workflow_id}-cycle-' AND ExecutionStatus = 'Running'"
        try:
            open_runs = sorted([wf.id async for wf in client.list_workflows(query, limit=100)
                                if (await wf.memo()).get("kind") == "approval"])
        except RPCError:
            return head, []
    if not open_runs:
        return f"{head}, and none is open now", []
    shown = ", ".join(open_runs[:10]) + (f" and {len(open_runs) - 10} more" if len(open_runs) > 10 else "")
    return f"{head}. Open now: {shown}; pass one of those ids instead", open_runs


async def _query(client: Client, workflow_id: str, query: Callable[..., Any]) -> Any:
    """A query on a maintenance run. Only if it fails is the workflow described, to tell an id of
    another kind of workflow (the proactive agent's) apart from a run that cannot answer."""
    try:
        return await _guard(workflow_id, _handle(client, workflow_id).query(query))
    except (Busy, RunNotFound):
        raise
    except OperationError:
        await _run_handle(client, workflow_id)  # raises the clearer error for another workflow type
        raise


async def get_status(client: Client, workflow_id: str) -> RunStatus:
    """The run's status. A finished run answers from its recorded result: no replay, no worker needed."""
    handle, desc = await _run_handle(client, workflow_id)
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        r: MaintenanceResult = await _guard(workflow_id, handle.result())
        executed = sum(getattr(r.outcomes, o) for o in ("succeeded", "failed", "rolled_back", "stale", "not_run"))
        return RunStatus(
            workflow_id=workflow_id, phase=r.phase, started_by=r.started_by, started_at=r.started_at or desc.start_time,
            as_of=r.as_of, dry_run=r.dry_run, findings=r.findings, findings_by_severity=r.findings_by_severity,
            data_errors=r.data_errors, warnings=r.warnings,
            problems=r.problems, actions=r.actions, decision=r.decision, outcomes=r.outcomes, executed=executed,
            to_execute=executed, report=r.report, error=r.error, phases=r.phases)
    return await _guard(workflow_id, handle.query(InfrastructureMaintenanceWorkflow.status))


READ_ARTIFACT_TIMEOUT = timedelta(seconds=60)
"""How long a page of an artifact may take, waiting for a worker included."""


class ArtifactMissing(OperationError):
    """The worker has no such artifact (not written yet, or deleted)."""


async def read_artifact(client: Client, workflow_id: str, artifact: str) -> str:
    """The whole text of one of the run's artifacts (`<run folder>/<file>`, relative to the worker's
    REPORTS_DIR), read by a worker of the run's task queue page by page: a client never reads the
    worker's disk, so it may be on another machine or have another REPORTS_DIR."""
    _, desc = await _run_handle(client, workflow_id)
    run_dir, name = posixpath.split(artifact)
    parts: list[str] = []
    inp = ReadArtifactInput(run_dir=run_dir, name=name)
    size: int | None = None
    while True:
        page = await _read_page(client, desc.task_queue or "", inp)
        if size is not None and page.size != size:
            raise OperationError(f"{artifact} changed on the worker while it was read; ask again")
        size = page.size
        parts.append(page.text)
        if page.done or page.next_offset <= inp.offset:
            return "".join(parts)
        inp = inp.model_copy(update={"offset": page.next_offset})


async def _read_page(client: Client, task_queue: str, inp: ReadArtifactInput) -> ArtifactPage:
    where = f"{inp.run_dir}/{inp.name}"
    try:
        return await client.execute_workflow(
            ArtifactReaderWorkflow.run, inp, id=f"read-artifact-{uuid.uuid4()}", task_queue=task_queue,
            execution_timeout=READ_ARTIFACT_TIMEOUT)
    except WorkflowFailureError as exc:
        cause: BaseException = exc
        while isinstance(cause, FailureError | WorkflowFailureError) and cause.cause is not None:
            cause = cause.cause
        if isinstance(cause, ApplicationError) and cause.type == "ArtifactMissing":
            raise ArtifactMissing(cause.message) from None
        if isinstance(cause, TemporalTimeout):
            raise OperationError(f"no worker of task queue {task_queue!r} read {where} within "
                                 f"{READ_ARTIFACT_TIMEOUT.total_seconds():.0f} s",
                                 cli="start one with `python -m maintenance_agent.worker`",
                                 mcp="start a worker for that task queue and ask again") from None
        raise OperationError(f"the worker could not read {where}: {_failure_text(exc)}") from None
    except RPCError as exc:
        raise OperationError(f"could not ask a worker for {where}: {exc.message}") from None


def _parsed(model: type[M], text: str, artifact: str) -> M:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise OperationError(f"{artifact} on the worker is unreadable ({exc.errors()[0]['msg']}); start a new run") from None


async def get_plan(client: Client, workflow_id: str) -> PlanView:
    """The run's plan, every action of it (a large plan from its artifact, through a worker)."""
    view: PlanView = await _query(client, workflow_id, InfrastructureMaintenanceWorkflow.plan)
    if view.truncated and view.artifact:
        plan = _parsed(artifacts.PlanArtifact, await read_artifact(client, workflow_id, view.artifact), view.artifact)
        view = view.model_copy(update={"actions": plan.actions, "truncated": False})
    return view


async def get_findings(client: Client, workflow_id: str, *, site: str | None = None,
                       min_severity: Severity | None = None) -> FindingsView:
    """The run's findings; a run started from a proactive cycle's plan shows that cycle's detection."""
    view: FindingsView = await _query(client, workflow_id, InfrastructureMaintenanceWorkflow.findings)
    source = view.artifact if view.truncated else None
    if view.total == 0 and view.artifact is None:
        # Such a run detects nothing itself; its plan, and the detection behind it, are in the cycle's folder.
        plan: PlanView = await _query(client, workflow_id, InfrastructureMaintenanceWorkflow.plan)
        if plan.artifact:
            source = posixpath.join(posixpath.dirname(plan.artifact), artifacts.DETECTION)
    findings: list[Finding] = view.findings
    truncated, artifact = view.truncated, view.artifact
    if source is not None:
        text: str | None
        try:
            text = await read_artifact(client, workflow_id, source)
        except ArtifactMissing:
            if not view.truncated:  # a cycle's plan without a detection beside it: nothing to show
                text = None
            else:
                raise
        if text is not None:
            findings = _parsed(artifacts.DetectionArtifact, text, source).findings
            truncated, artifact = False, source
    if site is not None:
        findings = [f for f in findings if f.site == site]
    if min_severity is not None:
        findings = [f for f in findings if f.severity.rank >= min_severity.rank]
    return FindingsView(total=len(findings) if not truncated else view.total, findings=findings,
                        truncated=truncated, artifact=artifact)


async def get_results(client: Client, workflow_id: str) -> ResultsView:
    return await _query(client, workflow_id, InfrastructureMaintenanceWorkflow.results)


async def get_report(client: Client, workflow_id: str) -> Report:
    """The finished run's report (report.json), or an error saying the run is not finished."""
    return await read_report(client, await get_status(client, workflow_id))


async def get_report_markdown(client: Client, workflow_id: str) -> str:
    """The finished run's report.md, or an error saying the run is not finished."""
    status = await get_status(client, workflow_id)
    return await read_artifact(client, workflow_id, _report_artifact(status, "report.md"))


async def read_report(client: Client, status: RunStatus) -> Report:
    """The report of the run with this status (report.json, read through a worker)."""
    artifact = _report_artifact(status, "report.json")
    return _parsed(Report, await read_artifact(client, status.workflow_id, artifact), artifact)


def _report_artifact(status: RunStatus, name: str) -> str:
    """A report file of the run, relative to the worker's REPORTS_DIR: a run's report folder is named
    by its workflow id (the absolute paths in its ReportRef are the worker's, not this machine's)."""
    if status.report is None:
        raise OperationError(
            f"run {status.workflow_id} is {status.phase.value} and has no report yet; check again when it has finished"
        )
    return f"{status.workflow_id}/{name}"


async def decide(client: Client, workflow_id: str, request: ApprovalRequest, *,
                 patience_seconds: float = 120.0, signed_by: Signer | None = None) -> ApprovalResult:
    """Send an approval or rejection; the workflow validates it before anything is recorded. With
    `signed_by`, the decision is signed for this run of the workflow (the approver is the signer).

    A busy worker or server is retried for up to `patience_seconds` with the same update id, so a
    decision that did land is never applied twice: Temporal returns the first outcome again."""
    _, desc = await _run_handle(client, workflow_id)  # another workflow's id is refused, saying what to use
    if signed_by is not None:
        request = request.model_copy(update={"approver": signed_by.user})
        request.proof = signed_by.prove(identity.DECIDE, identity.decision_fields(
            workflow_id, desc.run_id, signed_by.user, request.approve, request.action_ids, request.comment))
    update_id = f"decide-{uuid.uuid4()}"
    return await retry_busy(lambda: _guard(workflow_id, _handle(client, workflow_id).execute_update(
        InfrastructureMaintenanceWorkflow.decide, request, id=update_id)), patience_seconds)


async def retry_busy(call: Callable[[], Awaitable[Any]], patience_seconds: float, first_delay: float = 0.5) -> Any:
    """`call()` again while it raises `Busy`, backing off up to 5 s, for at most `patience_seconds`."""
    deadline = time.monotonic() + patience_seconds
    delay = first_delay
    while True:
        try:
            return await call()
        except Busy:
            if time.monotonic() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def result(client: Client, workflow_id: str) -> MaintenanceResult:
    """Wait for the run to finish. A run that failed returns its FAILED result (from its status)."""
    handle = _handle(client, workflow_id)
    try:
        return await _guard(workflow_id, handle.result())
    except WorkflowFailureError as exc:
        status = await get_status(client, workflow_id)
        return MaintenanceResult(workflow_id=workflow_id, phase=Phase.FAILED, summary=status.report.summary
                                 if status.report else f"FAILED: {_failure_text(exc)}",
                                 report=status.report, error=status.error or _failure_text(exc))


async def follow(client: Client, workflow_id: str, on_change: Callable[[RunStatus], None], *,
                 until: Callable[[RunStatus], bool], poll_seconds: float = 0.25,
                 timeout_seconds: float | None = None, busy_poll_seconds: float = 2.0) -> RunStatus:
    """Poll the run's status, calling `on_change` whenever phase or progress changes, until `until`."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    last: tuple[Any, ...] | None = None
    busy_since: float | None = None
    while True:
        try:
            status = await get_status(client, workflow_id)
        except Busy:
            # A busy worker is not a failed run: keep asking, within a bounded patience.
            now = time.monotonic()
            busy_since = busy_since or now
            if now - busy_since >= FOLLOW_PATIENCE_SECONDS:
                raise
            await asyncio.sleep(busy_poll_seconds)
            continue
        busy_since = None
        key = (status.phase, len(status.phases), status.executed, status.decision is not None)
        if key != last:
            on_change(status)
            last = key
        if until(status):
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise OperationError(f"run {workflow_id} is still {status.phase.value} after {timeout_seconds:.0f} s")
        await asyncio.sleep(poll_seconds)


async def action_outcomes(client: Client, status: RunStatus, results: ResultsView) -> dict[str, str]:
    """What became of each action of the run, by action id: from the run's results, and for a finished
    run from its report, which also names the actions that were not approved or not run and those a
    large plan ran in site children (whose results the run itself does not hold one by one)."""
    outcomes = {r.action_id: r.outcome.value for r in results.results}
    if status.report is not None and (results.truncated or status.phase.terminal):
        with contextlib.suppress(OperationError, OSError, ValueError):
            for action in (await read_report(client, status)).actions:
                outcomes.setdefault(action.id, action.outcome.value)
    return outcomes


async def list_runs(client: Client, limit: int = 10) -> list[RunSummary]:
    """The most recent maintenance runs, newest first, each with its own outcome and counts.

    Runs publish them in their memo, so one visibility listing answers; only a run recorded before
    that is asked itself (its result, or its status query while it runs)."""
    listed: list[tuple[WorkflowExecution, RunSummary, RunCard | None]] = []
    try:
        async for wf in client.list_workflows(f"WorkflowType = '{RUN_WORKFLOW}'", limit=limit):
            listed.append(await _listed_run(wf))
    except RPCError as exc:
        raise OperationError(f"could not list runs: {exc.message}") from None
    slots = asyncio.Semaphore(LIST_FALLBACK_CONCURRENCY)

    async def complete(wf: WorkflowExecution, run: RunSummary, card: RunCard | None) -> RunSummary:
        outcome = listed_outcome(run.status, card)
        if outcome is None:
            async with slots:
                card = await _ask_run(client, wf, run.status)
            outcome = card.outcome if card is not None else "UNKNOWN"
        update: dict[str, Any] = {"outcome": outcome}
        if card is not None:
            update.update(started_by=card.started_by or run.started_by, dry_run=card.dry_run, actions=card.actions,
                          outcomes=card.outcomes)
        return run.model_copy(update=update)

    return list(await asyncio.gather(*(complete(*item) for item in listed)))


async def _listed_run(wf: WorkflowExecution) -> tuple[WorkflowExecution, RunSummary, RunCard | None]:
    """A listed run as far as the listing itself tells: Temporal's status, the agent's start memo
    (kind, cycle, starter) and the run's own card, if it published one."""
    try:
        memo = await wf.memo()
        card = await wf.memo_value(MEMO_KEY, None, type_hint=RunCard)
    except (KeyError, ValueError, TypeError) as exc:  # encrypted without our key, or not ours
        log.info("could not read the memo of %s: %s", wf.id, exc)
        memo, card = {}, None
    status = wf.status.name if isinstance(wf.status, WorkflowExecutionStatus) else "UNKNOWN"
    kind = memo.get("kind") if wf.parent_id and memo.get("kind") in ("approval", "routine") else "run"
    run = RunSummary(workflow_id=wf.id, outcome="", status=status, workflow_type=wf.workflow_type, kind=kind,
                     cycle=memo.get("cycle") if kind != "run" and isinstance(memo.get("cycle"), int) else None,
                     parent_workflow_id=wf.parent_id, started_by=str(memo["by"]) if kind != "run" and memo.get("by") else None,
                     started_at=wf.start_time, closed_at=wf.close_time)
    return wf, run, card


async def _ask_run(client: Client, wf: WorkflowExecution, status: str) -> RunCard | None:
    """The card of a run that published none: from its result once it completed, else from its status
    query (which needs a worker). None if it cannot say in time."""
    handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=MaintenanceResult)
    try:
        async with asyncio.timeout(LIST_FALLBACK_SECONDS):
            if status == "COMPLETED":
                return card_from_result(await _guard(wf.id, handle.result()))
            return card_from_status(await _guard(wf.id, handle.query(InfrastructureMaintenanceWorkflow.status)))
    except (OperationError, TimeoutError, WorkflowFailureError, ValueError, KeyError) as exc:
        log.info("%s could not say its outcome (%s)", wf.id, exc)
        return None


# ------------------------------------------------------------------------------------------------
# the proactive agent


def proactive_workflow_id(user: str) -> str:
    return f"always-be-maintainin-for-{user}"


async def start_proactive(client: Client, settings: Settings, *, interval_minutes: float = 15,
                          auto_execute_routine: bool = True, callback_url: str | None = None,
                          **options: Any) -> tuple[str, bool]:
    """Start the user's proactive agent, or return the one already running. (id, already_running)."""
    workflow_id = proactive_workflow_id(settings.user_name)
    if await _is_running(client, workflow_id):
        return workflow_id, True
    inp = ProactiveInput(**_start_options(settings, {
        "interval_seconds": interval_minutes * 60, "auto_execute_routine": auto_execute_routine,
        "callback_url": callback_url, **options}))
    if (me := signer(settings)) is not None:
        inp.start_proof = me.prove(identity.START_AGENT, identity.start_fields(workflow_id, inp))
    try:
        # USE_EXISTING: two clients starting at once still end up with one agent.
        await client.start_workflow(ProactiveMaintenanceWorkflow.run, inp, id=workflow_id,
                                    task_queue=settings.task_queue,
                                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                    static_summary=f"proactive maintenance for {settings.user_name}")
    except RPCError as exc:
        raise OperationError(f"could not start the proactive agent: {exc.message}") from None
    return workflow_id, False


async def _is_running(client: Client, workflow_id: str) -> bool:
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise OperationError(f"Temporal refused the request: {exc.message}") from None
    return desc.status == WorkflowExecutionStatus.RUNNING


def _agent(client: Client, user: str) -> WorkflowHandle:
    return client.get_workflow_handle_for(ProactiveMaintenanceWorkflow.run, proactive_workflow_id(user))


async def proactive_status(client: Client, user: str) -> ProactiveStatus:
    workflow_id = proactive_workflow_id(user)
    try:
        return await _guard(workflow_id, _agent(client, user).query(ProactiveMaintenanceWorkflow.status))
    except RunNotFound:
        raise RunNotFound(f"no proactive agent for {user} ({workflow_id})",
                          cli="start one with `run_monitoring_agent_proactive.py`",
                          mcp="start one with initiate_proactive_maintenance") from None


async def _signal_agent(client: Client, user: str, signal: Any) -> ProactiveStatus:
    if not await _is_running(client, proactive_workflow_id(user)):
        raise RunNotFound(f"no proactive agent is running for {user}",
                          cli="start one with `run_monitoring_agent_proactive.py`",
                          mcp="start one with initiate_proactive_maintenance")
    await _guard(proactive_workflow_id(user), _agent(client, user).signal(signal))
    return await proactive_status(client, user)


async def trigger_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.trigger_now)


async def stop_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.stop)


async def pause_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.pause)


async def resume_proactive(client: Client, user: str) -> ProactiveStatus:
    return await _signal_agent(client, user, ProactiveMaintenanceWorkflow.resume)


async def set_proactive_interval(client: Client, user: str, minutes: float) -> ProactiveStatus:
    if not await _is_running(client, proactive_workflow_id(user)):
        raise RunNotFound(f"no proactive agent is running for {user}",
                          cli=f"start one with `run_monitoring_agent_proactive.py --interval-minutes {minutes:g}`",
                          mcp=f"start one with initiate_proactive_maintenance (interval_minutes {minutes:g})")
    return await _guard(proactive_workflow_id(user), _agent(client, user).execute_update(
        ProactiveMaintenanceWorkflow.set_interval, SetIntervalRequest(minutes=minutes)))


# ------------------------------------------------------------------------------------------------
# read-only fleet health, straight from the data (no workflow)


def fleet_health(settings: Settings, site: str | None = None, max_devices: int = MAX_ITEMS) -> FleetHealthOut:
    """Current health per site and device, computed by the same rules as a run; writes nothing."""
    store = FleetStore(settings.data_dir)
    fleet = store.load()
    rules = load_rules(settings.rules_file)
    as_of = analysis_time(fleet.inventory.values(), fleet.health.values(), datetime.now(UTC), rules.future_tolerance)
    inventory = fleet.inventory
    if site is not None:
        inventory = {eid: inv for eid, inv in fleet.inventory.items() if inv.site == site}
        if not inventory:
            sites = sorted({inv.site for inv in fleet.inventory.values()})
            raise OperationError(f"no site {site!r} in the fleet; sites are: {', '.join(sites)}")
    found = detect(inventory, fleet.health, fleet.life_years(), rules, as_of, store.read_health_states())
    by_device: dict[str, list[str]] = {}
    for f in found.findings:
        by_device.setdefault(f.equipment_id, []).append(f"{f.kind.value}: {f.message}")
    critical = [d for d in found.device_health if d.state is HealthState.CRITICAL]
    return FleetHealthOut(
        analysis_time=as_of, scope=site or "fleet", devices=found.summary.devices,
        by_state={s.value: sum(1 for d in found.device_health if d.state is s) for s in HealthState},
        sites=found.sites,
        findings_by_kind=dict(sorted(Counter(f.kind.value for f in found.findings).items())),
        critical_devices=[DeviceIssue(equipment_id=d.equipment_id, site=d.site, state=d.state,
                                      findings=by_device.get(d.equipment_id, [])[:5]) for d in critical[:max_devices]],
        stressed_devices=sum(1 for d in found.device_health if d.state is HealthState.STRESSED),
    )
