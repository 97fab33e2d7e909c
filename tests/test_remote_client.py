"""A client that cannot see the worker's disk (another machine, another REPORTS_DIR, no `reports/` in
its working directory) still reads every finding, the whole plan and the report: through the worker."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from conftest import copy_fleet, eventually, running_worker, settings_for
from maintenance_agent import artifacts, client_ops
from maintenance_agent.activities import MaintenanceActivities
from maintenance_agent.core.report import Report
from maintenance_agent.datagen import generate_fleet, write_fleet
from maintenance_agent.models.activity_io import ReadArtifactInput
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.core import Severity
from maintenance_agent.models.proactive import ProactivePhase
from maintenance_agent.models.run import INLINE_LIMIT, Phase


def _worker_and_client(tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch, **overrides):  # noqa: ANN003, ANN202
    """The worker's settings (REPORTS_DIR tmp/worker-reports) and a client's on the same task queue whose
    REPORTS_DIR is empty and whose working directory has no reports/."""
    queue = f"remote-{uuid.uuid4().hex[:8]}"
    worker = settings_for(tmp_path / "worker", data_dir=data, reports_dir=tmp_path / "worker-reports",
                          task_queue=queue, **overrides)
    (tmp_path / "client-reports").mkdir()
    (tmp_path / "client-cwd").mkdir()
    monkeypatch.chdir(tmp_path / "client-cwd")
    client = settings_for(tmp_path / "client", data_dir=tmp_path / "client-data", reports_dir=tmp_path / "client-reports",
                          task_queue=queue, **overrides)
    return worker, client


async def test_a_client_without_the_workers_disk_reads_a_large_plan_its_findings_and_the_report(
        client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    write_fleet(generate_fleet(1200, 7), data)
    worker, remote = _worker_and_client(tmp_path, data, monkeypatch)
    async with running_worker(client, worker):
        wid = await client_ops.start_run(client, remote, max_failures=100_000)
        status = await eventually(lambda: client_ops.get_status(client, wid),
                                  lambda s: s.phase is Phase.PENDING_APPROVAL, timeout=180, what="the plan")
        folder = worker.reports_dir / wid
        on_worker = artifacts.read(folder, artifacts.PLAN, artifacts.PlanArtifact).actions
        detected = artifacts.read(folder, artifacts.DETECTION, artifacts.DetectionArtifact).findings
        assert status.actions == len(on_worker) > INLINE_LIMIT and len(detected) > INLINE_LIMIT

        plan = await client_ops.get_plan(client, wid)
        assert not plan.truncated and plan.actions == on_worker

        findings = await client_ops.get_findings(client, wid)
        assert not findings.truncated and findings.findings == detected and findings.total == len(detected)
        site = detected[0].site
        east = await client_ops.get_findings(client, wid, site=site, min_severity=Severity.WARNING)
        expected = [f for f in detected if f.site == site and f.severity.rank >= Severity.WARNING.rank]
        assert east.findings == expected and east.total == len(expected) > 0

        chosen = [a.id for a in plan.actions if not a.disruptive][:5]
        await client_ops.decide(client, wid, ApprovalRequest(action_ids=chosen, approver="remote.test"))
        result = await client_ops.result(client, wid)
        assert result.phase is Phase.COMPLETED and result.report is not None

        report = await client_ops.get_report(client, wid)
        assert report == Report.model_validate_json((folder / "report.json").read_bytes())
        assert report.workflow_id == wid and len(report.actions) == status.actions
        assert len(report.findings) == result.findings
        assert report.outcomes.skipped_unapproved == status.actions - len(chosen)
        assert report.outcomes.model_copy(update={"skipped_unapproved": 0}) == \
            result.outcomes.model_copy(update={"skipped_unapproved": 0})
        assert result.outcomes.succeeded + result.outcomes.failed + result.outcomes.rolled_back == len(chosen)
        assert await client_ops.get_report_markdown(client, wid) == (folder / "report.md").read_text()
        outcomes = await client_ops.action_outcomes(client, await client_ops.get_status(client, wid),
                                                    await client_ops.get_results(client, wid))
        assert len(outcomes) == status.actions
    assert not any((tmp_path / "client-reports").iterdir()) and not (tmp_path / "client-cwd" / "reports").exists()


async def test_a_client_without_the_workers_disk_reads_the_findings_of_a_proactive_approval_run(
        client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    worker, remote = _worker_and_client(tmp_path, copy_fleet(tmp_path / "data"), monkeypatch,
                                        user_name=f"remote{uuid.uuid4().hex[:6]}")
    async with running_worker(client, worker):
        await client_ops.start_proactive(client, remote, interval_minutes=600)
        status = await eventually(lambda: client_ops.proactive_status(client, remote.user_name),
                                  lambda s: s.cycle >= 1 and s.phase is ProactivePhase.WAITING, timeout=120,
                                  what="the first cycle")
        cycle = status.last_cycle
        assert cycle is not None and cycle.approval_run and cycle.artifact_dir
        try:
            await eventually(lambda: client_ops.get_status(client, cycle.approval_run),
                             lambda s: s.phase is Phase.PENDING_APPROVAL, what="the approval run's plan")
            findings = await client_ops.get_findings(client, cycle.approval_run)
            detected = artifacts.read(worker.reports_dir / cycle.artifact_dir, artifacts.DETECTION,
                                      artifacts.DetectionArtifact).findings
            assert findings.findings == detected and findings.total == cycle.findings > 0
            assert findings.artifact == f"{cycle.artifact_dir}/{artifacts.DETECTION}"
        finally:
            await client_ops.stop_proactive(client, remote.user_name)
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(cycle.approval_run).terminate("test over")


def test_the_reader_pages_at_character_boundaries_and_reads_nothing_outside_a_run_folder(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    (reports / "run-1").mkdir(parents=True)
    text = "# Report — ünïcödé → 🛠 done\n" * 40
    (reports / "run-1" / "report.md").write_text(text)
    (tmp_path / "secret.md").write_text("no")
    acts = MaintenanceActivities(data_dir=tmp_path / "data", reports_dir=reports)
    for limit in (1, 3, 7, 64):
        pages, inp = [], ReadArtifactInput(run_dir="run-1", name="report.md", limit=limit)
        while True:
            page = acts.read_run_artifact(inp)
            pages.append(page.text)
            if page.done or page.next_offset == inp.offset:
                break
            inp = inp.model_copy(update={"offset": page.next_offset})
        if limit >= 4:  # a 4-byte character needs a page of 4 bytes
            assert "".join(pages) == text
    for run_dir, name in (("..", "secret.md"), ("run-1", "../../secret.md"), (str(tmp_path), "secret.md"),
                          ("run-1", "run.json"), ("run-2", "report.md")):
        with pytest.raises(ApplicationError) as refused:
            acts.read_run_artifact(ReadArtifactInput(run_dir=run_dir, name=name))
        assert refused.value.non_retryable
