"""A run's artifacts (findings, plan, report) as a client sees them: from the run's queries, and
what they only reference, read page by page by a worker of the run's task queue. A client never
reads the worker's disk, so it may run on another machine or have another REPORTS_DIR."""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, FailureError
from temporalio.exceptions import TimeoutError as TemporalTimeout
from temporalio.service import RPCError

from ..artifact_reader import ArtifactReaderWorkflow
from ..artifacts import DETECTION, DetectionArtifact, PlanArtifact
from ..core.report import Report
from ..models.activity_io import ArtifactPage, ReadArtifactInput
from ..models.core import Finding, Severity
from ..models.views import FindingsView, PlanView, ResultsView, RunStatus
from ..workflows import InfrastructureMaintenanceWorkflow
from .errors import ArtifactMissing, ErrorCode, OperationError, failure_text
from .runs import describe_run, get_status, query_run

READ_ARTIFACT_TIMEOUT = timedelta(seconds=60)
"""How long a page of an artifact may take, waiting for a worker included."""
M = TypeVar("M", bound=BaseModel)


async def read_artifact(client: Client, workflow_id: str, artifact: str) -> str:
    """The whole text of one of the run's artifacts (`<run folder>/<file>`, relative to the worker's
    REPORTS_DIR), read by a worker of the run's task queue page by page."""
    _, desc = await describe_run(client, workflow_id)
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
                                 f"{READ_ARTIFACT_TIMEOUT.total_seconds():.0f} s", code=ErrorCode.NO_ARTIFACT_READER,
                                 task_queue=task_queue) from None
        raise OperationError(f"the worker could not read {where}: {failure_text(exc)}") from None
    except RPCError as exc:
        raise OperationError(f"could not ask a worker for {where}: {exc.message}") from None


def _parsed(model: type[M], text: str, artifact: str) -> M:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise OperationError(f"{artifact} on the worker is unreadable ({exc.errors()[0]['msg']}); start a new run") from None


async def get_plan(client: Client, workflow_id: str) -> PlanView:
    """The run's plan, every action of it (a large plan from its artifact, through a worker)."""
    view: PlanView = await query_run(client, workflow_id, InfrastructureMaintenanceWorkflow.plan)
    if view.truncated and view.artifact:
        plan = _parsed(PlanArtifact, await read_artifact(client, workflow_id, view.artifact), view.artifact)
        view = view.model_copy(update={"actions": plan.actions, "truncated": False})
    return view


async def get_findings(client: Client, workflow_id: str, *, site: str | None = None,
                       min_severity: Severity | None = None) -> FindingsView:
    """The run's findings; a run started from a proactive cycle's plan shows that cycle's detection."""
    view: FindingsView = await query_run(client, workflow_id, InfrastructureMaintenanceWorkflow.findings)
    source = view.artifact if view.truncated else None
    if view.total == 0 and view.artifact is None:
        # Such a run detects nothing itself; its plan, and the detection behind it, are in the cycle's folder.
        plan: PlanView = await query_run(client, workflow_id, InfrastructureMaintenanceWorkflow.plan)
        if plan.artifact:
            source = posixpath.join(posixpath.dirname(plan.artifact), DETECTION)
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
            findings = _parsed(DetectionArtifact, text, source).findings
            truncated, artifact = False, source
    if site is not None:
        findings = [f for f in findings if f.site == site]
    if min_severity is not None:
        findings = [f for f in findings if f.severity.rank >= min_severity.rank]
    return FindingsView(total=len(findings) if not truncated else view.total, findings=findings,
                        truncated=truncated, artifact=artifact)


async def get_results(client: Client, workflow_id: str) -> ResultsView:
    return await query_run(client, workflow_id, InfrastructureMaintenanceWorkflow.results)


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
            f"run {status.workflow_id} is {status.phase.value} and has no report yet; check again when it has finished",
            code=ErrorCode.NO_REPORT_YET, workflow_id=status.workflow_id)
    return f"{status.workflow_id}/{name}"


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
