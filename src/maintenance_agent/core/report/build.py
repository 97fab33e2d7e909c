"""Building the report from a run's artifacts and the recorded outcomes (the ledger, or a dry run's simulation). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...models.activity_io import ReportInput
from ...models.core import ActionResult, DeviceHealth, Finding, HealthState, Outcome, SiteHealth
from ...models.run import OutcomeCounts, Phase
from .changes import device_changes, site_changes
from .model import Report, ReportAction, ReportFinding, ReportHealth
from .outcome import summarize, verdict
from .recommend import recommendations

if TYPE_CHECKING:
    from ...models.artifacts import AnalysisArtifact, DetectionArtifact, PlanArtifact


def build_report(
    inp: ReportInput,
    detection: DetectionArtifact | None,
    analysis: AnalysisArtifact | None,
    plan: PlanArtifact | None,
    recorded: Mapping[str, ActionResult],
    advisor: dict[str, Any] | None = None,
    executor: str = "simulated",
) -> Report:
    selected = set(inp.selected_ids) if inp.selected_ids is not None else None
    planned = [a for a in (plan.actions if plan else []) if selected is None or a.id in selected]
    approved_ids = set(inp.approved_ids) if inp.approved_ids is not None else {a.id for a in planned}
    if inp.phase in (Phase.REJECTED, Phase.EXPIRED):
        approved_ids = set()
    counts = OutcomeCounts()
    rows: list[ReportAction] = []
    for a in planned:
        approved = a.id in approved_ids
        result = recorded.get(a.id)
        if result is not None:
            outcome, detail, changes, seq = result.outcome, result.detail, result.changes, result.audit_seq
            observed, after = result.observed, result.after
        else:
            outcome = Outcome.NOT_RUN if approved else Outcome.SKIPPED_UNAPPROVED
            detail = ("approved but not executed" + (" (circuit breaker)" if inp.halted else "")) if approved else ""
            changes, seq, observed, after = {}, None, "", None
        counts.add(outcome)
        rows.append(ReportAction(
            id=a.id, equipment_id=a.equipment_id, site=a.site, action=a.action.value, risk=a.risk,
            confidence=a.confidence, routine=a.routine, priority=a.priority, source=a.source, reason=a.reason,
            approved=approved, outcome=outcome, detail=detail, observed=observed, changes=changes, after=after,
            audit_seq=seq, llm_comment=a.llm_comment, llm_priority=a.llm_priority,
        ))
    findings = detection.findings if detection else []
    phase = inp.phase
    summary = summarize(phase, len(planned), len(approved_ids & {a.id for a in planned}), counts,
                        dry_run=inp.dry_run, findings=len(findings),
                        devices=detection.summary.devices if detection else 0,
                        decision=inp.decision, error=inp.error, halted=inp.halted)
    devices = device_changes(detection, rows, dry_run=inp.dry_run) if detection else []
    problems = analysis.problems if analysis else []
    report = Report(
        workflow_id=inp.workflow_id, run_id=inp.run_id, outcome=phase, verdict=verdict(phase, counts),
        summary=summary, dry_run=inp.dry_run, executor=executor,
        started_by=inp.started_by, started_at=inp.started_at, finished_at=inp.finished_at,
        analysis_time=detection.as_of if detection else None,
        fleet=detection.summary if detection else None,
        health=_health(detection.device_health, detection.sites) if detection else None,
        sites_before_after=site_changes(detection.sites, devices, rows) if detection else [],
        devices_after=devices,
        findings=[_finding(f) for f in findings],
        warnings=detection.warnings if detection else [],
        data_errors=detection.data_errors if detection else [],
        problems=problems,
        site_impacts=analysis.impacts if analysis else [],
        decision=inp.decision, actions=rows, outcomes=counts,
        recommendations=recommendations(findings, rows, problems, inp.halted, devices, planned),
        error=inp.error, halted=inp.halted,
    )
    if advisor:
        report.advisor = advisor
    return report


def _finding(f: Finding) -> ReportFinding:
    return ReportFinding(
        equipment_id=f.equipment_id, site=f.site, kind=f.kind, severity=f.severity.value, confidence=f.confidence,
        message=f.message, metric=f.evidence.metric, value=f.evidence.value, threshold=f.evidence.threshold,
        projected_days_to_breach=f.evidence.projected_days_to_breach,
    )


def _health(devices: list[DeviceHealth], sites: list[SiteHealth]) -> ReportHealth:
    counts = Counter(d.state.value for d in devices)
    return ReportHealth(devices={s.value: counts.get(s.value, 0) for s in HealthState},
                        held_back=sum(1 for d in devices if d.held_back), sites=sites)
