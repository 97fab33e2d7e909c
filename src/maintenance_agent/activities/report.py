"""Report activities: everything about a run's folder under REPORTS_DIR. Claiming it for one run,
writing the report from the artifacts and the ledger (what really happened), reading a page of an
artifact for a client on another machine, and the proactive agent's cycle numbering."""

from __future__ import annotations

import os
from typing import Any

import orjson
from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import artifacts
from ..core.report import actions_csv, build_report, findings_csv, render_markdown
from ..core.report_html import render_html
from ..models.activity_io import READABLE_ARTIFACTS, ArtifactPage, ReadArtifactInput, ReportInput
from ..models.execution import ClaimRunInput
from ..models.proactive import LastCycleInput
from ..models.run import ReportRef
from ..store import atomic_write_bytes
from .action_pipeline import EXECUTOR, result_from_ledger
from .base import ActivityBase
from .errors import store_errors

RUN_MARKER = "run.json"
"""In a run's report folder: which run owns it."""
REPORT_FILES = {"report.md": "for people", "report.html": "the same, one self-contained page",
                "actions.csv": "every action, observed evidence and changes", "findings.csv": "every finding"}


class ReportActivities(ActivityBase):
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
            with store_errors():
                ledger = self.store().ledger_for(inp.run_id)
            recorded = {c.action_id: result_from_ledger(None, c) for c in ledger if c.action_id}
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
